"""The gallery: reports/index.html and reports/README.md, one entry per notebook of the pack with
its status, run profile, backend, wall time, headline numbers and figure thumbnails, linking to the
executed notebook, metrics.json, the figures and the PDF report.

It reads only what runs left in the reports folder (run.json, metrics.json, figures/); thumbnails
are written to reports/<notebook>/thumbnails/.
"""

import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import nbformat

from labs_lib.shared.files import atomic_write, read_json
from labs_tools import check
from labs_tools.pdf import notebook_title, wall_time

THUMB_WIDTH = 360  # pixels
WIDE = 2.5  # figures wider than WIDE x their height: thumbnails two columns wide, to stay legible
PACK_PDF = "dl-labs-reports.pdf"
esc = html.escape


@dataclass
class Entry:
    """One notebook's line in the gallery; links are relative to the reports folder."""

    name: str
    title: str
    status: str = "not run"  # ok | failed | timeout | not run
    message: str = ""
    profile: str = ""
    backend: str = ""
    seconds: float = 0.0
    finished: str = ""
    dataset: str = ""
    headline: dict = field(default_factory=dict)
    links: list = field(default_factory=list)  # [(label, href)]
    figures: list = field(default_factory=list)  # [Thumbnail]


@dataclass
class Thumbnail:
    """A figure in the gallery: its caption, thumbnail and full-size PNG (hrefs), and whether it
    spans two columns."""

    caption: str
    thumb: str
    full: str
    wide: bool = False


def entry(name, title, out):
    """The gallery entry of notebook `name` from reports folder `out` (its latest good run, and a
    newer failure)."""
    out = Path(out)
    folder, failed = out / name, out / f"{name}.failed"
    record, metrics = read_json(folder / "run.json"), read_json(folder / "metrics.json")
    e = Entry(name, title)
    add_run_facts(e, record, metrics)
    if metrics:
        add_results(e, metrics, folder, out)
    for label, path in (
        ("executed notebook", folder / f"{name}.ipynb"),
        ("PDF report", folder / f"{name}.pdf"),
        ("metrics.json", folder / "metrics.json"),
    ):
        if path.exists():
            e.links.append((label, href(path, out)))
    failure = read_json(failed / "run.json")
    if failure and failure.get("finished", "") >= e.finished:
        add_failure(e, failure, record, failed, out)
    return e


def add_run_facts(e, record, metrics):
    """Status, profile, backend, wall time and end of the run, from the runner's run.json, else from
    metrics.json (a notebook run in JupyterLab or by hand)."""
    if record:
        e.status, e.profile, e.backend = (
            record.get("status", "ok"),
            record.get("profile", ""),
            record.get("backend", ""),
        )
        e.seconds, e.finished = record.get("seconds", 0.0), record.get("finished", "")
    elif metrics:  # run in JupyterLab or by hand: metrics.json but no runner record
        e.status, e.profile, e.backend = (
            "ok",
            metrics.get("profile", ""),
            metrics.get("backend", ""),
        )
        e.seconds, e.finished = metrics.get("wall_seconds", 0.0), metrics.get("finished", "")


def add_results(e, metrics, folder, out):
    """The dataset, headline numbers and figure thumbnails of a run, from its metrics.json."""
    dataset = metrics.get("dataset") or {}
    title = dataset.get("title", "")
    e.dataset = title + (
        " (synthetic)" if dataset.get("synthetic") and "synthetic" not in title.lower() else ""
    )
    e.headline = dict(metrics.get("values", {}).get("headline", {}))
    missing = [name for name, check in metrics.get("effects", {}).items() if not check["shown"]]
    if missing:
        e.headline["not demonstrated in this run"] = ", ".join(missing)
    checks = check.summary_line(folder)
    if checks:
        e.headline["checks against the references"] = checks
    e.figures = [
        figure
        for figure in (thumbnail(folder, f, out) for f in metrics.get("figures", []))
        if figure
    ]


def add_failure(e, failure, record, failed, out):
    """A failed run newer than the good one: its status and message, its facts when there is no good
    run, and a link to its notebook."""
    e.status, e.message = failure.get("status", "failed"), failure.get("message", "")
    if not record:
        e.profile, e.backend, e.seconds, e.finished = (
            failure.get(k, "") for k in ("profile", "backend", "seconds", "finished")
        )
    if (failed / f"{e.name}.ipynb").exists():
        e.links.append(("failed run's notebook", href(failed / f"{e.name}.ipynb", out)))


def href(path, root):
    return quote(Path(path).relative_to(root).as_posix())


def thumbnail(folder, figure, out):
    """The Thumbnail of a figure record of metrics.json, making the thumbnail file if needed: two
    columns wide for a figure wider than WIDE x its height."""
    png = next((folder / f for f in figure.get("files", []) if f.endswith(".png")), None)
    if png is None or not png.exists():
        return None
    from PIL import Image

    thumb = folder / "thumbnails" / png.name
    with Image.open(png) as image:
        wide = image.width > WIDE * image.height
    if not thumb.exists() or thumb.stat().st_mtime < png.stat().st_mtime:
        with Image.open(png) as image:
            image.thumbnail((thumb_width(wide), THUMB_WIDTH * 3))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", optimize=True)
        atomic_write(thumb, buffer.getvalue())
    caption = figure.get("caption") or figure.get("name", "")
    return Thumbnail(caption, href(thumb, out), href(png, out), wide)


def thumb_width(wide):
    """Pixels: one column, or two columns and the gap between them (1em, about 16 px)."""
    return 2 * THUMB_WIDTH + 16 if wide else THUMB_WIDTH


def entries(notebooks, out):
    """Gallery entries for {name: path} notebooks, in order, each followed by its grid runs."""
    items = []
    for name, path in with_grid_runs(notebooks, out).items():
        title = notebook_title(nbformat.read(str(path), as_version=4)) or name
        grid = name.partition("--")[2].replace("--", ", ")
        items.append(entry(name, f"{title} ({grid})" if grid else title, out))
    return items


def with_grid_runs(notebooks, out):
    """{name: path} with each `labs run --grid` run found in `out` (<name>--<param>=<value>...)
    after its notebook."""
    found = {}
    for name, path in notebooks.items():
        found[name] = path
        for folder in sorted(Path(out).glob(f"{name}--*")):
            if folder.is_dir():
                found[folder.name.removesuffix(".failed")] = path
    return found


STYLE = (
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;"
    "color:#222;padding:0 1em}\n"
    "h1{margin-bottom:.2em}.sub{color:#666;margin-top:0}"
    "table.summary{border-collapse:collapse;margin:1em 0 2em}\n"
    "table.summary td,table.summary th{border-bottom:1px solid #ddd;padding:.35em .7em;"
    "text-align:left;vertical-align:top}\n"
    "section{border-top:2px solid #eee;padding-top:1em;margin-top:1.5em}"
    ".status{font-weight:bold;padding:.1em .5em;border-radius:4px}\n"
    ".ok{background:#d8f3dc;color:#1b5e20}.failed,.timeout{background:#ffe0e0;color:#b00020}"
    ".notrun{background:#eee;color:#555}\n"
    ".figs{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;width:%dpx}"
    "figure.wide{width:calc(%dpx + 1em)}figure img{width:100%%;border:1px solid #ddd}\n"
    "figcaption{font-size:.8em;color:#555}.links a{margin-right:1em}.facts{color:#555}"
) % (THUMB_WIDTH, 2 * THUMB_WIDTH)


def render_html(items, out):
    """The gallery page; the same reports give the same bytes (no clock time in it)."""
    rows = "".join(summary_row(e) for e in items)
    sections = "".join(section(e) for e in items)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>dl-labs reports</title><style>{STYLE}</style></head><body>"
        "<h1>dl-labs reports</h1>"
        f'<p class="sub">Gallery of the latest runs, {latest_run(items)}{pack_link(out)}</p>'
        '<table class="summary"><tr><th>notebook</th><th>status</th><th>profile</th>'
        f"<th>backend</th><th>wall time</th><th>headline</th></tr>{rows}</table>{sections}"
        "</body></html>\n"
    )


def latest_run(items):
    """When the latest run finished, for the page's subtitle."""
    latest = max((e.finished for e in items if e.finished), default="")
    return f"latest run finished {latest[:16].replace('T', ' ')} UTC" if latest else "no runs yet"


def pack_link(out):
    """The link to the pack's PDF when it is in the reports folder `out`, else ''."""
    if not (Path(out) / PACK_PDF).exists():
        return ""
    return f' · <a href="{quote(PACK_PDF)}">all reports in one PDF</a>'


def status_badge(e):
    return f'<span class="status {e.status.replace(" ", "")}">{esc(e.status)}</span>'


def summary_row(e):
    """The entry's row in the summary table at the top of the page."""
    headline = "<br>".join(esc(f"{k}: {v}") for k, v in e.headline.items()) or "–"
    return (
        f'<tr><td><a href="#{esc(e.name)}">{esc(e.name)}</a></td><td>{status_badge(e)}</td>'
        f"<td>{esc(e.profile or '–')}</td><td>{esc(e.backend or '–')}</td>"
        f"<td>{wall_time(e.seconds)}</td><td>{headline}</td></tr>"
    )


def section(e):
    """The entry's section: title and status, facts, latest failure, headline, links, figures."""
    facts = esc(facts_line(e)) or "not run yet: labs run " + esc(e.name)
    message = f"<p><b>Latest run {esc(e.status)}:</b> {esc(e.message)}</p>" if e.message else ""
    headline = "".join(f"<li>{esc(k)}: <b>{esc(str(v))}</b></li>" for k, v in e.headline.items())
    links = "".join(f'<a href="{h}">{esc(label)}</a>' for label, h in e.links)
    return (
        f'<section id="{esc(e.name)}"><h2>{esc(e.title)} {status_badge(e)}</h2>'
        f'<p class="facts">{facts}</p>{message}<ul>{headline}</ul>'
        f'<p class="links">{links}</p><div class="figs">{figures_html(e)}</div></section>'
    )


def facts_line(e):
    """Profile, backend, wall time, dataset and end of the run, those known, joined by dots."""
    return " · ".join(
        x
        for x in (
            f"profile {e.profile}" if e.profile else "",
            f"backend {e.backend}" if e.backend else "",
            f"wall time {wall_time(e.seconds)}" if e.seconds else "",
            e.dataset,
            f"finished {e.finished[:16].replace('T', ' ')} UTC" if e.finished else "",
        )
        if x
    )


def figures_html(e):
    """The entry's figure thumbnails, each linking to the full figure."""
    wide = ' class="wide"'
    return "".join(
        f'<figure{wide if f.wide else ""}><a href="{f.full}">'
        f'<img src="{f.thumb}" alt="{esc(f.caption)}" loading="lazy"></a>'
        f"<figcaption>{esc(f.caption)}</figcaption></figure>"
        for f in e.figures
    )


def render_markdown(items, out):
    """The same gallery as Markdown (reports/README.md), for browsing the folder in a file viewer or
    on a forge."""
    cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = [
        "# dl-labs reports",
        "",
        "Gallery of the latest runs (`labs gallery` rewrites it; `index.html` is the same "
        "as a web page)."
        + (
            f" All reports in one PDF: [{PACK_PDF}]({quote(PACK_PDF)})."
            if (Path(out) / PACK_PDF).exists()
            else ""
        ),
        "",
        "| notebook | status | profile | backend | wall time | headline |",
        "|---|---|---|---|---|---|",
    ]
    for e in items:
        headline = "<br>".join(cell(f"{k}: {v}") for k, v in e.headline.items()) or "–"
        lines.append(
            f"| [{e.name}](#{e.name}) | {e.status} | {e.profile or '–'} | {e.backend or '–'} "
            f"| {wall_time(e.seconds)} | {headline} |"
        )
    for e in items:
        lines += [
            "",
            f"## {e.name}",
            "",
            f"**{cell(e.title)}** — {e.status}" + (f": {cell(e.message)}" if e.message else ""),
            "",
        ]
        if e.links:
            lines += [" · ".join(f"[{label}]({h})" for label, h in e.links), ""]
        lines += [f"[![{cell(f.caption)}]({f.thumb})]({f.full})" for f in e.figures]
    return "\n".join(lines) + "\n"


def write(notebooks, out):
    """Write out/index.html and out/README.md for {name: path} notebooks; returns the two paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = entries(notebooks, out)
    return (
        atomic_write(out / "index.html", render_html(items, out)),
        atomic_write(out / "README.md", render_markdown(items, out)),
    )
