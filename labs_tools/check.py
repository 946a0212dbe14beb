"""`labs check`: hold executed notebooks' metrics.json against notebooks/references.yaml.

Prints one table (notebook, check, expected, got, status), writes check.json beside each
metrics.json, and says which checks failed and why.
"""

import json
from datetime import datetime, timezone
from pathlib import Path

from labs_lib import references
from labs_lib.shared.files import atomic_write, to_json
from labs_tools import runner

CHECK_FILE = "check.json"


def references_file(notebooks_dir):
    return Path(notebooks_dir) / "references.yaml"


def folders(requested, out, notebooks_dir):
    """The run folders to check: the named notebooks' (each must have a metrics.json), else every
    notebook with one in `out`. Raises runner.UsageError for a bad name or an empty folder."""
    available = runner.discover(notebooks_dir)
    if not requested:
        found = [out / n for n in available if (out / n / "metrics.json").exists()]
        if not found:
            raise runner.UsageError(
                f"no executed notebooks in {out} (no metrics.json): run some first "
                "(labs run --profile quick), or name the folder with --reports DIR"
            )
        return found
    chosen = []
    for name in runner.resolve_names(requested, available):
        if not (out / name / "metrics.json").exists():
            raise runner.UsageError(
                f"{name} has not been run into {out} (no metrics.json there): labs run {name} "
                "first, or name the folder with --reports DIR"
            )
        chosen.append(out / name)
    return chosen


def check_folder(folder, refs_path):
    """Evaluate the references of one run folder; write its check.json; return the results."""
    metrics_path = folder / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text())
        notebook = metrics["notebook"]
    except (OSError, ValueError, KeyError) as exc:
        raise runner.UsageError(f"{metrics_path} is not a notebook's metrics.json: {exc}") from exc
    results = references.check(metrics, path=refs_path)
    record = {
        "notebook": notebook,
        "profile": metrics.get("profile"),
        "backend": metrics.get("backend"),
        "run_finished": metrics.get("finished"),
        "checked": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "references": str(refs_path),
        "summary": references.summary(results),
        "passed": not any(r.status == "fail" for r in results),
        "checks": [r.as_dict() for r in results],
    }
    atomic_write(folder / CHECK_FILE, to_json(record))
    return results


def run_checks(run_folders, refs_path, out):
    """Check every folder, print the table and the failures; returns 1 if any check failed."""
    references.load(refs_path)  # a malformed file is an error before anything is written
    all_results = [(f.name, check_folder(f, refs_path)) for f in run_folders]
    out.write(format_table(all_results) + "\n")
    failed = [r for _, results in all_results for r in results if r.status == "fail"]
    for r in failed:
        out.write(f"FAIL {r.message}\n")
        if r.reference.if_outside:
            out.write(f"     likely: {r.reference.if_outside}\n")
    total = [r for _, results in all_results for r in results]
    out.write(
        f"labs check: {references.summary(total)} over {len(all_results)} notebook(s); "
        f"{CHECK_FILE} written beside each metrics.json\n"
    )
    return 1 if failed else 0


def format_table(all_results):
    """The checks as a fixed-width table: notebook, check, expected, got, status."""
    rows = [("notebook", "check", "expected", "got", "status")]
    for name, results in all_results:
        for r in results:
            got = r.got if len(r.got) <= 28 else r.got[:25] + "..."
            rows.append((name, r.reference.id, r.reference.expected, got, r.status))
        if not results:
            rows.append((name, "(no references)", "", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def summary_line(folder, refs_path=None):
    """The checks' summary for a run folder ('6 pass, 2 n/a'), for the gallery and PDF header:
    from check.json if it is newer than metrics.json, else evaluated now; '' without metrics or
    references."""
    folder = Path(folder)
    metrics_path, check_path = folder / "metrics.json", folder / CHECK_FILE
    if not metrics_path.exists():
        return ""
    try:
        if check_path.exists() and check_path.stat().st_mtime >= metrics_path.stat().st_mtime:
            return json.loads(check_path.read_text())["summary"]
        metrics = json.loads(metrics_path.read_text())
        results = references.check(metrics, path=refs_path)
        return references.summary(results) if results else ""
    except (OSError, ValueError, KeyError, references.ReferenceError) as exc:
        return f"not checked ({exc.__class__.__name__})"
