"""PDF reports and the gallery, built with the real programs (nbconvert, xelatex, poppler) from
small executed notebooks; the typesetting tests skip, saying why, where xelatex or poppler is
missing."""

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labs_lib.shared import latex
from labs_tools import gallery, pdf

HAVE_TEX = not pdf.missing_tools()
HAVE_POPPLER = all(shutil.which(t) for t in ("pdftoppm", "pdftotext"))
needs_tex = pytest.mark.skipif(
    not (HAVE_TEX and HAVE_POPPLER),
    reason=(
        "xelatex, pandoc, DejaVu fonts and poppler-utils are needed "
        f"({pdf.INSTALL_HINT} poppler-utils); .ci/run installs them"
    ),
)

TITLE = "Report test: the loss along θ"  # after the notebook's number
REPORT_BODY = """import matplotlib.pyplot as plt
import pandas as pd
from labs_lib.reporting import Report
report = Report("{name}", dict(profile=profile, n=n, fail=fail, sleep=sleep), out_dir)
print("epoch 1/2 [=====>    ]\\b\\b\\b\\b\\b\\r", end="")
print("epoch 1/2 [==========] done")
print("┏━━━━━━━━━━━━━┳━━━━━━━━━┓  what model.summary() prints")
for i in range(60):
    print(f"training log line {{i}}")
fig, ax = plt.subplots()
ax.plot([0, 1, 2], [3.0, 1.0, 2.0])
report.figure(fig, "curve", "Loss against α, one line")"""
TABLE_CELL = """report.headline(**{{"best accuracy": "α-net 97.31%"}})
report.table(
    "scores",
    pd.DataFrame({{"model": ["α-net", "β_net"], "accuracy": [0.97314, 0.88123]}}),
    "Accuracy per model",
)"""


def make_report_notebook(nbmaker, folder, name):
    """A small notebook like the pack's: title, a numbered section with θ, a figure, a table, a long
    log."""
    nb = new_notebook(
        cells=[
            new_markdown_cell(
                f"# {name[:2]} {TITLE}\n\n"
                "**Question.** Does $\\alpha \\le \\beta$ hold? Greek in text: θ, λ."
            ),
            new_markdown_cell("## Parameters"),
            new_code_cell(nbmaker.PARAMETERS, metadata={"tags": ["parameters"]}),
            new_markdown_cell("## 1. Results\nThe figure and the table."),
            new_code_cell(REPORT_BODY.format(name=name)),
            new_code_cell(TABLE_CELL.format()),
            new_code_cell("report.save();"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = Path(folder) / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def labs(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "labs_tools.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.fixture(scope="module")
def pack(nbmaker, tmp_path_factory):
    """A notebooks folder with two report notebooks and one that fails, run into out/ (the runner
    writes the gallery). {"notebooks": folder, "out": folder, "run": CompletedProcess}."""
    root = tmp_path_factory.mktemp("pdfpack")
    notebooks = root / "notebooks"
    (notebooks / "profiles").mkdir(parents=True)
    for name in ("90_report", "91_report"):
        make_report_notebook(nbmaker, notebooks, name)
    nbmaker.notebook(notebooks, "92_broken")
    (notebooks / "profiles" / "smoke.yaml").write_text("92_broken:\n  fail: true\n")
    for profile in ("quick", "full"):
        (notebooks / "profiles" / f"{profile}.yaml").write_text("")
    out = root / "out"
    run = labs(
        "--notebooks-dir", str(notebooks), "run", "--profile", "smoke", "--out", str(out), cwd=root
    )
    return {"notebooks": notebooks, "out": out, "run": run, "root": root}


@pytest.fixture(scope="module")
def built(pack):
    """`labs pdf` over the whole pack folder: each notebook's PDF and the combined one."""
    if not (HAVE_TEX and HAVE_POPPLER):
        pytest.skip("xelatex or poppler missing")
    result = labs(
        "--notebooks-dir",
        str(pack["notebooks"]),
        "pdf",
        "--out",
        str(pack["out"]),
        cwd=pack["root"],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def pdf_text(path):
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def page_images(path, folder):
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(folder / "page")], check=True)
    return sorted(folder.glob("page*.png"))


# ---------------------------------------------------------------- building PDFs


@needs_tex
def test_pdf_pages_render_to_non_blank_images(pack, built, tmp_path):
    from PIL import Image

    pages = page_images(pack["out"] / "90_report" / "90_report.pdf", tmp_path)
    assert pages
    for page in pages:
        with Image.open(page) as image:
            grey = image.convert("L")
            dark = sum(1 for v in grey.getdata() if v < 200) / (grey.width * grey.height)
        assert dark > 0.005, f"{page.name} is blank"


@needs_tex
def test_pdf_text_holds_title_greek_letters_table_numbers_and_captions(pack, built):
    text = pdf_text(pack["out"] / "90_report" / "90_report.pdf")
    assert "Report test: the loss along θ" in text
    assert "λ" in text and "α-net" in text
    assert (
        "┏━━━━━━━━━━━━━┳━━━━━━━━━┓" in text
    )  # Keras's box-drawing characters (DejaVu Sans Mono has them)
    assert "0.9731" in text and "0.8812" in text and "β_net" in text
    assert "Figure 1: Loss against α, one line" in text
    assert "Table 1: Parameter values of this run (profile smoke, backend tensorflow)" in text
    assert "Table 2: Accuracy per model" in text
    assert "profile smoke" in text and "backend tensorflow" in text
    assert "best accuracy: α-net 97.31%" in text


@needs_tex
def test_report_style_hides_code_numbers_sections_and_trims_long_logs(pack, built):
    text = pdf_text(pack["out"] / "90_report" / "90_report.pdf")
    assert "report.figure(" not in text and "import pandas" not in text
    assert re.search(r"^\s*2\s+Results", text, re.M), (
        "sections are numbered by LaTeX ('1. ' stripped)"
    )
    assert "training log line 0" in text and "training log line 59" in text
    assert "training log line 30" not in text and "lines left out here" in text
    assert "epoch 1/2 [==========] done" in text  # the backspaces and carriage return were applied


@needs_tex
def test_with_code_keeps_the_code_and_the_whole_log(pack, tmp_path):
    dest = tmp_path / "with-code"
    shutil.copytree(pack["out"] / "90_report", dest)
    result = labs(
        "pdf", str(dest / "90_report.ipynb"), "--with-code", "--paper", "letter", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    text = pdf_text(dest / "90_report.pdf")
    assert "report.figure(" in text and "training log line 30" in text
    info = subprocess.run(
        ["pdfinfo", str(dest / "90_report.pdf")], capture_output=True, text=True
    ).stdout
    assert "(letter)" in info


@needs_tex
def test_pack_pdf_has_a_table_of_contents_with_every_notebook(pack, built):
    text = pdf_text(pack["out"] / gallery.PACK_PDF)
    contents = text[text.index("Contents") :]
    assert re.search(r"1\s+90 Report test", contents) and re.search(r"2\s+91 Report test", contents)
    assert re.search(r"1\.2\s+Results", contents)
    assert "92_broken" not in text  # it has no executed notebook to typeset
    info = subprocess.run(
        ["pdfinfo", str(pack["out"] / "90_report" / "90_report.pdf")],
        capture_output=True,
        text=True,
    ).stdout
    assert "(A4)" in info  # by default


@needs_tex
def test_run_with_pdf_makes_the_pdf_after_the_run(nbmaker, tmp_path):
    notebooks = tmp_path / "nb"
    (notebooks / "profiles").mkdir(parents=True)
    make_report_notebook(nbmaker, notebooks, "90_report")
    out = tmp_path / "out"
    result = labs(
        "--notebooks-dir",
        str(notebooks),
        "run",
        "--profile",
        "smoke",
        "--out",
        str(out),
        "--pdf",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "90_report" / "90_report.pdf").stat().st_size > 10_000
    assert not (out / gallery.PACK_PDF).exists()  # one notebook: no pack


# ------------------------------------------------------------- refusals, before anything is written


def test_pdf_of_a_notebook_that_was_not_run_names_it_and_writes_nothing(pack, tmp_path):
    if not HAVE_TEX:
        pytest.skip("xelatex missing: the tools are checked first")
    out = tmp_path / "empty"
    out.mkdir()
    result = labs(
        "--notebooks-dir", str(pack["notebooks"]), "pdf", "90", "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 2
    assert (
        "90_report has not been run into" in result.stderr
        and "labs run 90_report first" in result.stderr
    )
    assert list(out.iterdir()) == []


def test_pdf_of_an_unexecuted_notebook_is_refused(pack, tmp_path):
    if not HAVE_TEX:
        pytest.skip("xelatex missing: the tools are checked first")
    result = labs("pdf", str(pack["notebooks"] / "90_report.ipynb"), cwd=tmp_path)
    assert (
        result.returncode == 2 and "has no outputs: it is not an executed notebook" in result.stderr
    )
    assert not (pack["notebooks"] / "90_report.pdf").exists()


def test_missing_xelatex_says_what_to_install_and_writes_nothing(pack, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no xelatex, no pandoc on this PATH
    before = sorted(p.name for p in (pack["out"] / "91_report").iterdir())
    result = labs(
        "--notebooks-dir",
        str(pack["notebooks"]),
        "pdf",
        "--out",
        str(pack["out"]),
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2
    assert (
        "PDF reports need xelatex, pandoc" in result.stderr and "apt-get install" in result.stderr
    )
    assert "texlive-xetex" in result.stderr
    assert sorted(p.name for p in (pack["out"] / "91_report").iterdir()) == before


def test_run_with_pdf_checks_the_tools_before_any_kernel_starts(pack, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))
    out = tmp_path / "out"
    result = labs(
        "--notebooks-dir",
        str(pack["notebooks"]),
        "run",
        "90",
        "--profile",
        "smoke",
        "--out",
        str(out),
        "--pdf",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2 and "apt-get install" in result.stderr and not out.exists()


def test_an_unknown_paper_size_is_refused(tmp_path):
    result = labs("pdf", "--paper", "a5", cwd=tmp_path)
    assert result.returncode == 2 and "paper must be one of {a4, letter}, got 'a5'" in result.stderr


# ---------------------------------------------------------------- report-style pieces


def test_headings_lose_the_title_and_their_numbers_and_move_up_one_level():
    source = "# 02 Title\nText\n## 1. Theory: scale\n### (a) Part\n```\n# a comment in code\n```"
    assert (
        pdf.shift_headings(source, top=1)
        == "Text\n# Theory: scale\n## (a) Part\n```\n# a comment in code\n```"
    )
    assert pdf.shift_headings(source, top=2).splitlines()[1] == "## Theory: scale"


def test_a_long_log_keeps_its_first_and_last_lines():
    text = "".join(f"line {i}\n" for i in range(100))
    trimmed = pdf.trim_stream(text, keep=10).splitlines()
    assert trimmed[:5] == [f"line {i}" for i in range(5)] and trimmed[-5:] == [
        f"line {i}" for i in range(95, 100)
    ]
    assert "90 lines left out" in trimmed[5]
    assert pdf.trim_stream("a\nb\n", keep=10) == "a\nb\n"


def test_latex_table_escapes_formats_and_captions():
    df = pd.DataFrame({"run_name": ["a&b", "50%"], "loss": [0.000012345, 2.0], "n": [3, 4]})
    df.attrs["caption"] = "Loss_per run"
    tex = latex.latex_table(df)
    assert r"\caption{Loss\_per run}" in tex and r"run\_name & loss & n \\" in tex
    assert r"a\&b & 1.234e-05 & 3 \\" in tex and r"50\% & 2 & 4 \\" in tex
    assert r"\begin{tabular}{lrr}" in tex and r"\toprule" in tex and r"\bottomrule" in tex


def test_latex_table_transposes_a_wide_short_table_and_breaks_a_long_one_across_pages():
    wide = pd.DataFrame({"name": ["x", "y"], **{f"metric_{i}": [i, i + 0.5] for i in range(12)}})
    tex = latex.latex_table(wide)
    assert r" & x & y \\" in tex and r"metric\_11 & 11 & 11.5 \\" in tex
    long = pd.DataFrame({"i": range(latex.LONG_TABLE_ROWS + 1)})
    assert r"\begin{longtable}" in latex.latex_table(long)


# ---------------------------------------------------------------- the gallery


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("href", "src") and v and not v.startswith("#")]


def test_the_runner_writes_a_gallery_whose_links_resolve(pack):
    out = pack["out"]
    assert pack["run"].returncode == 1  # 92_broken fails on purpose
    parser = Links()
    parser.feed((out / "index.html").read_text())
    assert parser.links, "the gallery links to nothing"
    for link in parser.links:
        assert (out / unquote(link)).is_file(), link
    markdown = (out / "README.md").read_text()
    for link in re.findall(r"\]\(([^)#]+)\)", markdown):
        assert (out / unquote(link)).is_file(), link


def test_gallery_lists_every_notebook_with_status_profile_headline_and_thumbnails(pack):
    page = (pack["out"] / "index.html").read_text()
    for name in ("90_report", "91_report", "92_broken"):
        assert f'id="{name}"' in page
    items = {
        e.name: e
        for e in gallery.entries(
            {n: pack["notebooks"] / f"{n}.ipynb" for n in ("90_report", "91_report", "92_broken")},
            pack["out"],
        )
    }
    ok, broken = items["90_report"], items["92_broken"]
    assert (ok.status, ok.profile, ok.backend) == ("ok", "smoke", "tensorflow") and ok.seconds > 0
    assert (
        ok.headline == {"best accuracy": "α-net 97.31%"} and "best accuracy: α-net 97.31%" in page
    )
    figure = ok.figures[0]
    assert figure.caption == "Loss against α, one line"
    assert figure.thumb.endswith("thumbnails/curve.png") and not figure.wide
    from PIL import Image

    with Image.open(pack["out"] / figure.thumb) as image:
        assert image.width <= gallery.THUMB_WIDTH
    assert broken.status == "failed" and "deliberate failure in 92_broken" in broken.message
    assert ("failed run's notebook", "92_broken.failed/92_broken.ipynb") in broken.links


@needs_tex
def test_gallery_links_the_pdf_reports_once_they_exist(pack, built):
    page = (pack["out"] / "index.html").read_text()
    assert 'href="90_report/90_report.pdf"' in page and f'href="{gallery.PACK_PDF}"' in page


def test_gallery_command_refuses_a_missing_folder(tmp_path):
    result = labs("gallery", "--out", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_metrics_json_records_the_headline(pack):
    metrics = json.loads((pack["out"] / "90_report" / "metrics.json").read_text())
    assert metrics["values"]["headline"] == {"best accuracy": "α-net 97.31%"}


def test_latex_table_names_multiindex_columns_by_their_levels():
    grid = pd.DataFrame({"network": ["plain", "bn"], "l2": [0.01, 0.01], "acc": [0.9, 0.95]})
    pivot = grid.pivot_table(index="network", columns="l2", values="acc").reset_index()
    tex = latex.latex_table(pivot)
    assert r"network & 0.01 \\" in tex and "(" not in tex.split(r"\midrule")[0]


def test_latex_table_shows_a_multiindex_index_as_columns():
    grid = pd.DataFrame(
        {"network": ["plain", "bn"], "batch": [32, 64], "acc": [0.9, 0.95]}
    ).set_index(["network", "batch"])
    tex = latex.latex_table(grid)
    assert r"network & batch & acc \\" in tex and r"plain & 32 & 0.9 \\" in tex
    unnamed = pd.DataFrame({"acc": [0.5]}, index=pd.MultiIndex.from_tuples([("a", 1)]))
    assert r" &  & acc \\" in latex.latex_table(unnamed)


def test_a_table_latex_cannot_typeset_falls_back_with_a_warning_instead_of_failing_the_cell(
    monkeypatch,
):
    monkeypatch.setattr(latex, "latex_table", lambda df: 1 / 0)
    with pytest.warns(UserWarning, match="no LaTeX form for this table"):
        assert latex.latex_or_none(pd.DataFrame({"a": [1]})) is None


def test_the_gallery_is_the_same_bytes_when_rewritten_from_the_same_reports(pack):
    """A skipped (--resume) or interrupted run rewrites the gallery: it must not change a byte
    (no clock time)."""
    before = {n: (pack["out"] / n).read_bytes() for n in ("index.html", "README.md")}
    assert b"latest run finished" in before["index.html"]
    gallery.write(
        {n: pack["notebooks"] / f"{n}.ipynb" for n in ("90_report", "91_report", "92_broken")},
        pack["out"],
    )
    assert {n: (pack["out"] / n).read_bytes() for n in before} == before


def test_the_header_lists_what_differs_from_the_full_profile_first():
    info = pdf.RunInfo(
        title="01",
        name="01_regularization",
        headline={"best": "none 94 %"},
        cuts={"epochs": {"value": 8, "full": 20}, "seeds": {"value": 3, "full": 5}},
    )
    lines = pdf.header_metadata(info)["headline"]
    assert lines[0] == "differs from the full profile: epochs 8 (full 20), seeds 3 (full 5)"
    assert lines[1] == "best: none 94 %"
    assert pdf.header_metadata(pdf.RunInfo(title="t", name="n"))["headline"] == []


def test_the_gallery_names_the_effects_a_run_did_not_demonstrate(tmp_path):
    folder = tmp_path / "01_x"
    folder.mkdir()
    entry = gallery.Entry(name="01_x", title="01")
    metrics = {
        "values": {"headline": {"best": "none"}},
        "effects": {"overfitting": {"shown": False}, "stable": {"shown": True}},
    }
    gallery.add_results(entry, metrics, folder, tmp_path)
    assert entry.headline == {"best": "none", "not demonstrated in this run": "overfitting"}


@pytest.mark.parametrize("size, wide", [((6, 4), False), ((14, 2.8), True)])
def test_gallery_thumbnails_of_wide_strips_span_two_columns_and_stay_legible(tmp_path, size, wide):
    import matplotlib.pyplot as plt
    from PIL import Image

    folder = tmp_path / "nb"
    (folder / "figures").mkdir(parents=True)
    fig, ax = plt.subplots(figsize=size)
    ax.plot([0, 1], [0, 1])
    fig.savefig(folder / "figures" / "f.png", dpi=100)
    plt.close(fig)
    figure = gallery.thumbnail(folder, {"files": ["figures/f.png"], "caption": "c"}, tmp_path)
    assert figure.wide == wide
    with Image.open(tmp_path / figure.thumb) as image:
        assert image.width == gallery.thumb_width(wide)
        assert image.height >= 140  # a 5:1 strip at one column would be 72 px high
    html = gallery.figures_html(gallery.Entry("nb", "t", figures=[figure]))
    assert ('class="wide"' in html) == wide
