"""PDF reports: executed notebooks turned into LaTeX reports with nbconvert and xelatex, one per
notebook or one for the whole pack.

Report style (the default): code hidden, a header with the notebook's title, the course, the run's
date, profile, backend and wall time, numbered sections, captioned figures, tables typeset as
tables, the values of the parameters as a table, long training logs trimmed. `with_code=True` keeps
the code cells and every output. The template is labs_tools/templates/labs_report (DejaVu fonts:
Greek letters, math symbols, box drawing).
"""

import copy
import json
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat

from labs_lib.shared.files import atomic_write, read_json
from labs_tools import check

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "labs_report"
COURSE = "dl-labs: a deep-learning course pack"
PAPER_SIZES = ("a4", "letter")
TEX_PACKAGES = (
    "texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc fonts-dejavu-core "
    "fonts-dejavu-extra"
)
INSTALL_HINT = f"apt-get install -y --no-install-recommends {TEX_PACKAGES}"
STREAM_LINES = 24  # a longer printed log keeps its first and last lines in the report


class PdfError(RuntimeError):
    """A PDF cannot be made: a missing tool, a missing or unexecuted notebook, or a LaTeX
    failure."""


@dataclass
class RunInfo:
    """What the report's header says about the run, from metrics.json (and run.json) beside the
    notebook."""

    title: str
    name: str
    profile: str = "unknown"
    backend: str = "unknown"
    date: str = ""
    seconds: float = 0.0
    device: str = ""
    parameters: dict = None
    headline: dict = None
    checks: str = ""  # the references checks' summary: "6 pass, 2 n/a"
    cuts: dict = None


def missing_tools():
    """The programs the LaTeX route needs that are not on PATH, and the DejaVu fonts if absent
    (the text fonts come with fonts-dejavu-core, the math font with fonts-dejavu-extra)."""
    missing = [tool for tool in ("xelatex", "pandoc") if shutil.which(tool) is None]
    folders = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]
    for font, name in (
        ("DejaVuSerif.ttf", "DejaVu fonts"),
        ("DejaVuMathTeXGyre.ttf", "DejaVu Math"),
    ):
        if not any((folder / font).is_file() for folder in folders):
            missing.append(name)
    return missing


def check_tools():
    """Refuse, with what to install, when xelatex, pandoc or the DejaVu fonts are missing."""
    missing = missing_tools()
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise PdfError(
            f"PDF reports need {', '.join(missing)}, which {verb} not installed; "
            f"on Debian or Ubuntu: {INSTALL_HINT}"
        )


def check_paper(paper):
    if paper not in PAPER_SIZES:
        raise PdfError(f"paper must be one of {{{', '.join(PAPER_SIZES)}}}, got {paper!r}")


# ---------------------------------------------------------------- reading an executed notebook


def read_executed(path):
    """The executed notebook at `path`, refused when it is missing or was never run."""
    path = Path(path)
    if not path.exists():
        raise PdfError(f"{path} does not exist: run the notebook first (labs run {path.stem})")
    nb = nbformat.read(str(path), as_version=4)
    if not any(c.cell_type == "code" and c.get("outputs") for c in nb.cells):
        raise PdfError(
            f"{path} has no outputs: it is not an executed notebook "
            f"(labs run {path.stem} makes one)"
        )
    return nb


def run_info(nb, path):
    """The header's facts: title from the first heading, the rest from metrics.json / run.json
    beside `path` (or in reports/<name>/ for a notebook executed and saved in JupyterLab)."""
    folder = Path(path).parent
    if not (folder / "metrics.json").exists():
        # a notebook saved from JupyterLab: its run wrote to reports/<name>/
        from labs_lib.reporting import reports_dir

        folder = reports_dir() / Path(path).stem
    metrics = read_json(folder / "metrics.json")
    record = read_json(folder / "run.json")
    finished = metrics.get("finished") or record.get("finished") or ""
    device = metrics.get("device", {})
    return RunInfo(
        title=notebook_title(nb) or Path(path).stem,
        name=Path(path).stem,
        profile=metrics.get("profile") or record.get("profile", "unknown"),
        backend=metrics.get("backend") or record.get("backend", "unknown"),
        date=format_date(finished),
        seconds=record.get("seconds") or metrics.get("wall_seconds") or 0.0,
        device=device_line(device),
        parameters=metrics.get("parameters"),
        headline=metrics.get("values", {}).get("headline"),
        cuts=metrics.get("differs_from_full"),
        checks=check.summary_line(folder) if metrics else "",
    )


def device_line(device):
    """The accelerator a run used, as the PDF header shows it: 'gpu:NVIDIA H200 x 2 (GPU 1)'."""
    line = device.get("accelerator") or device.get("machine", "")
    if len(device.get("devices", [])) > 1:
        line += f" x {len(device['devices'])}"
    pinned = device.get("gpu_environment", {}).get("CUDA_VISIBLE_DEVICES")
    return f"{line} (GPU {pinned})" if pinned and line.startswith(("gpu", "cuda")) else line


def format_date(iso):
    try:
        return datetime.fromisoformat(iso).strftime("%d %B %Y, %H:%M UTC")
    except ValueError:
        return iso


def notebook_title(nb):
    """The text of the first Markdown heading of level 1."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


# ---------------------------------------------------------------- report style

HEADING = re.compile(r"^(#{1,6})\s+(?:\d+[.)]\s+)?(.*)$")


def shift_headings(source, top):
    """Drop the level-1 title, and make level-2 headings level `top` (1 = section), numbers stripped
    ('## 3. Training' -> '# Training' for top=1): LaTeX numbers the sections itself."""
    lines, fenced = [], False
    for line in source.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match and len(match.group(1)) == 1:
            continue
        if match:
            level = len(match.group(1)) - 2 + top
            line = "#" * level + " " + match.group(2)
        lines.append(line)
    return "\n".join(lines).strip("\n")


def trim_stream(text, keep=STREAM_LINES):
    """A long printed log cut to its first and last lines, saying how many were left out."""
    lines = text.rstrip("\n").split("\n")
    if len(lines) <= keep:
        return text
    head, tail = lines[: keep // 2], lines[-(keep // 2) :]
    omitted = len(lines) - len(head) - len(tail)
    return (
        "\n".join(
            [
                *head,
                f"[... {omitted} lines left out here; the executed notebook has them all ...]",
                *tail,
            ]
        )
        + "\n"
    )


def parameters_cell(info):
    """A table of the values this run used (LaTeX), in place of the hidden parameters cell; None if
    unknown."""
    if not info.parameters:
        return None
    import pandas as pd

    from labs_lib.shared.latex import latex_table

    table = pd.DataFrame(
        [
            (name, json.dumps(value, ensure_ascii=False))
            for name, value in info.parameters.items()
            if name != "out_dir"
        ],
        columns=["parameter", "value"],
    )
    table.attrs["caption"] = (
        f"Parameter values of this run (profile {info.profile}, backend {info.backend})"
    )
    return raw_latex(latex_table(table))


def report_cells(nb, info, top=1, with_code=False):
    """The notebook's cells in report style (see the module docstring); `nb` is left unchanged."""
    nb = copy.deepcopy(nb)
    nb = coalesce_streams(nb)
    cells = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown":
            cell.source = shift_headings(cell.source, top)
            if cell.source:
                cells.append(cell)
            continue
        if cell.cell_type != "code":
            continue
        if not with_code and ("parameters" in tags or "injected-parameters" in tags):
            values = parameters_cell(info) if "parameters" in tags else None
            if values is not None:
                cells.append(values)
            continue
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                if out.name == "stderr" and not with_code:
                    continue  # library warnings and TensorFlow's start-up messages
                out.text = out.text if with_code else trim_stream(out.text)
            if out.get("metadata", {}).get("labs", {}).get("role") == "caption":
                continue  # the LaTeX figure carries the caption
            outputs.append(out)
        cell.outputs = outputs
        if with_code or outputs:
            cells.append(cell)
    return cells


def coalesce_streams(nb):
    """Merge consecutive stream outputs and apply carriage returns and backspaces (Keras progress
    bars)."""
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    nb, _ = CoalesceStreamsPreprocessor(enabled=True).preprocess(nb, {})
    return nb


def wall_time(seconds):
    """A run's duration for people: '42 s', '3.5 min', or '–' when unknown."""
    if not seconds:
        return "–"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def header_metadata(info):
    """What the template prints under the title."""
    facts = [f"profile {info.profile}", f"backend {info.backend}"]
    if info.seconds:
        facts.append(f"wall time {wall_time(info.seconds)}")
    if info.device:
        facts.append(info.device)
    return {
        "title": info.title,
        "name": info.name,
        "date": info.date,
        "facts": " · ".join(facts),
        "headline": cuts_line(info.cuts)
        + [f"{k}: {v}" for k, v in (info.headline or {}).items()]
        + ([f"checks against the references: {info.checks}"] if info.checks else []),
    }


def cuts_line(cuts):
    """["differs from the full profile: epochs 8 (full 20), ..."], or [] for a full run."""
    if not cuts:
        return []
    shown = ", ".join(f"{name} {c['value']} (full {c['full']})" for name, c in cuts.items())
    return [f"differs from the full profile: {shown}"]


def report_notebook(path, with_code=False):
    """One executed notebook in report style, ready for the template."""
    nb = read_executed(path)
    info = run_info(nb, path)
    nb.cells = report_cells(nb, info, top=1, with_code=with_code)
    nb.metadata["labs_report"] = {"course": COURSE, "pack": False, **header_metadata(info)}
    return nb


def pack_notebook(paths, with_code=False):
    """Several executed notebooks as one, each a section (its headings one level down), for a
    combined PDF."""
    from labs_lib.shared.latex import latex_escape

    parts = [(read_executed(p), p) for p in paths]
    cells, dates = [], []
    for nb, path in parts:
        info = run_info(nb, path)
        meta = header_metadata(info)
        dates.append(info.date)
        title, facts, date = (latex_escape(meta[k]) for k in ("title", "facts", "date"))
        cells.append(raw_latex(rf"\labsnotebook{{{title}}}{{{facts}}}{{{date}}}"))
        cells += report_cells(nb, info, top=2, with_code=with_code)
    nb = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(parts[0][0].metadata))
    nb.metadata["labs_report"] = {
        "course": COURSE,
        "pack": True,
        "title": "Lab reports",
        "name": "dl-labs",
        "date": datetime.now().strftime("%d %B %Y"),
        "facts": f"{len(parts)} notebooks",
        "headline": [],
    }
    return nb


def raw_latex(text):
    cell = nbformat.v4.new_raw_cell(text)
    cell.metadata["raw_mimetype"] = "text/latex"
    return cell


# ---------------------------------------------------------------- building


def exporter(with_code=False):
    """nbconvert's PDF exporter with the project's template."""
    from nbconvert import PDFExporter
    from traitlets.config import Config

    config = Config()
    config.PDFExporter.latex_count = 2  # twice: the table of contents and the figure numbers settle
    exp = PDFExporter(
        config=config, template_name=TEMPLATE, extra_template_basedirs=[str(TEMPLATES)]
    )
    # the pack's section headers (PDFExporter's default is application/pdf)
    exp.raw_mimetypes = ["text/latex"]
    exp.exclude_input = not with_code
    exp.exclude_input_prompt = exp.exclude_output_prompt = not with_code
    return exp


def build(nb, source_dir, dest, with_code=False, paper="a4"):
    """Typeset the report notebook `nb` (images resolved from `source_dir`) into the PDF file
    `dest`."""
    check_paper(paper)
    nb.metadata["labs_report"]["paper"] = f"{paper}paper"
    resources = {"metadata": {"name": Path(dest).stem, "path": str(source_dir)}}
    try:
        body, _ = exporter(with_code).from_notebook_node(nb, resources=resources)
    except Exception as exc:  # noqa: BLE001 - nbconvert raises LatexFailed and friends
        log = getattr(exc, "output", "") or str(exc)
        raise PdfError(f"LaTeX could not typeset {Path(dest).name}: {last_lines(log)}") from None
    return atomic_write(dest, body)


def last_lines(text, n=12):
    return "\n".join(str(text).strip().splitlines()[-n:])


def notebook_pdf(executed, dest=None, with_code=False, paper="a4"):
    """The PDF report of one executed notebook; written next to it (<name>.pdf) unless `dest` is
    given."""
    executed = Path(executed)
    dest = Path(dest) if dest else executed.with_suffix(".pdf")
    return build(report_notebook(executed, with_code), executed.parent, dest, with_code, paper)


def pack_pdf(executed, dest, with_code=False, paper="a4"):
    """One PDF of several executed notebooks, with a title page and a table of contents."""
    executed = [Path(p) for p in executed]
    return build(
        pack_notebook(executed, with_code), executed[0].parent, Path(dest), with_code, paper
    )
