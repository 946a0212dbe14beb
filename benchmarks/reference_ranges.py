"""Measure the `quick` ranges of notebooks/references.yaml from runs at several top-level seeds.

    labs run --profile quick -p seed=1 --out /tmp/ref_s1     # and seed=2, ... (seed 0: reports/)
    python benchmarks/reference_ranges.py reports /tmp/ref_s1 /tmp/ref_s2 [--write]

For every `measured` reference it reads the quantity (a mean over the run's seeds) from each run,
and the same quantity per seed from the `<table>_per_seed` table where there is one. The range is
centre +- 4 standard errors of a mean over one run's seeds (the per-seed sd / sqrt(seeds)), at
least +-1 % of the centre and as wide as the runs' own means, rounded outward to 3 significant
digits. It prints a table;
--write puts each range and the runs it came from into references.yaml (the `expect` and
`measured` lines of each measured entry).
"""

import argparse
import json
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labs_lib import references  # noqa: E402

STANDARD_ERRORS = 4
RELATIVE_FLOOR = 0.01  # at least +-1 % of the centre: another version's rounding, not a finding


def run_values(ref, runs):
    """(means, per_seed, seeds): the quantity's value in each run, every seed's value (from the
    per-seed table, when it has the column) and the seeds per run."""
    means, per_seed, seeds = [], [], []
    for metrics in runs:
        if metrics["notebook"] != ref.notebook or metrics["profile"] != "quick":
            continue
        means += [references.number(v) for v in references.read(ref, metrics)]
        seeds.append(metrics["parameters"].get("seeds", 1))
        split = references.Reference(**{**ref.__dict__, "table": f"{ref.table}_per_seed"})
        try:
            per_seed += [references.number(v) for v in references.read(split, metrics)]
        except LookupError:
            pass
    return means, per_seed, seeds


def measured_range(means, per_seed, seeds):
    """(low, high): centre +- 4 standard errors of a mean of `seeds` runs, covering every mean."""
    centre = statistics.fmean(means)
    if len(per_seed) > 1:
        half = STANDARD_ERRORS * statistics.stdev(per_seed) / math.sqrt(min(seeds))
    else:  # no per-seed table: the spread of the runs' means is that of a mean already
        half = STANDARD_ERRORS * statistics.stdev(means)
    half = max(half, RELATIVE_FLOOR * abs(centre))
    low, high = min(centre - half, min(means)), max(centre + half, max(means))
    return round_out(low, math.floor), round_out(high, math.ceil)


def round_out(x, direction, digits=3):
    if x == 0 or not math.isfinite(x):
        return x
    scale = 10 ** (digits - 1 - math.floor(math.log10(abs(x))))
    return direction(x * scale) / scale


def provenance(runs, commit=""):
    """The runs' date, backend, commit (default: HEAD's) and seeds, as references.yaml records
    them."""
    commit = (
        commit
        or subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    )
    backends = sorted({m["backend"] for m in runs})
    top_seeds = sorted({m["seed"] for m in runs})
    last = max(m["finished"][:10] for m in runs)
    return (
        f"{{date: {last}, backend: {'/'.join(backends)}, commit: {commit or 'unknown'}, "
        f"profile: quick, top-level seeds: {top_seeds}}}"
    )


def rewrite(text, notebook, ref_id, low, high, measured):
    """references.yaml's text with one entry's expect and measured lines replaced."""
    section = re.search(rf"^{re.escape(notebook)}:\n(?:(?:  .*)?\n)*", text, re.M)
    entry = re.search(
        rf"^  - id: {re.escape(ref_id)}\n(?:    .*\n)*", text[section.start() : section.end()], re.M
    )
    start, end = section.start() + entry.start(), section.start() + entry.end()
    body = re.sub(r"^    measured: .*\n", "", text[start:end], flags=re.M)
    body = re.sub(
        r"^    expect: .*\n",
        f"    expect: {{low: {low:g}, high: {high:g}}}\n    measured: {measured}\n",
        body,
        flags=re.M,
    )
    return text[:start] + body + text[end:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="reports folders of quick runs")
    parser.add_argument("--references", type=Path, default=references.REFERENCES_FILE)
    parser.add_argument("--write", action="store_true", help="update references.yaml")
    parser.add_argument("--commit", default="", help="the code the runs ran (default: HEAD)")
    args = parser.parse_args(argv)
    runs = [json.loads(p.read_text()) for d in args.runs for p in sorted(d.glob("*/metrics.json"))]
    text = args.references.read_text()
    measured = provenance(runs, args.commit)
    print(f"{'reference':46} {'run means':28} {'seed sd':>9} {'range':>20}")
    for notebook, refs in references.load(args.references).items():
        for ref in (r for r in refs if r.kind == "measured"):
            means, per_seed, seeds = run_values(ref, runs)
            if len(means) < 2:
                print(f"{ref.name:46} fewer than 2 quick runs: left as it is")
                continue
            low, high = measured_range(means, per_seed, seeds)
            sd = statistics.stdev(per_seed) if len(per_seed) > 1 else math.nan
            shown = ", ".join(f"{m:.4g}" for m in means)
            print(f"{ref.name:46} {shown:28} {sd:9.3g} {low:>9g} to {high:<9g}")
            text = rewrite(text, notebook, ref.id, low, high, measured)
    if args.write:
        staged = args.references.with_name(f".{args.references.name}.new")
        staged.write_text(text)
        references.load(staged)  # still valid, or an error before the file is replaced
        staged.replace(args.references)
        print(f"written: {args.references}")


if __name__ == "__main__":
    main()
