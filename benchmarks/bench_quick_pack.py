"""The whole pack on the quick profile, timed per notebook against the issue-9 targets (2-core CPU:
whole pack under 10 minutes, each notebook under 2 minutes), kernel starts included.

    python benchmarks/bench_quick_pack.py [--backend tensorflow|jax] [--jobs 1] [--profile quick]
                                          [--target-pack 600] [--target-notebook 120] [--keep DIR]
                                              [NOTEBOOK ...]

Runs `labs run --profile quick` into a temporary folder (or --keep DIR; reports/ is left alone),
then prints each notebook's wall time from its run.json beside the target, and the whole run's wall
time.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_NOTEBOOK_S = 120
TARGET_PACK_S = 600


def run_pack(notebooks, profile, backend, jobs=1, env=None, params=(), options=(), keep=None):
    """`labs run` into a temporary folder: ([(notebook, status, seconds)], wall seconds, exit code,
    output).

    env: variables added to the environment; params: NAME=VALUE overrides; options: more `labs run`
    options; keep: a folder for the reports instead (kept, so that a run cut short leaves its
    finished notebooks)."""
    folder = (
        contextlib.nullcontext(str(keep))
        if keep
        else tempfile.TemporaryDirectory(prefix="bench-pack-")
    )
    with folder as out:
        cmd = [
            sys.executable,
            "-m",
            "labs_tools.cli",
            "run",
            *notebooks,
            "--profile",
            profile,
            "--backend",
            backend,
            "--jobs",
            str(jobs),
            "--out",
            out,
            *[arg for p in params for arg in ("-p", p)],
            *options,
        ]
        started = time.perf_counter()
        result = subprocess.run(
            cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {}))
        )
        wall = time.perf_counter() - started
        rows = []
        for record_path in sorted(Path(out).glob("*/run.json")):
            record = json.loads(record_path.read_text())
            rows.append((record["notebook"], record["status"], record["seconds"]))
    return rows, wall, result.returncode, result.stdout + result.stderr


def compare_packs(args, modes, jobs=1, params=(), target=None):
    """Run the pack once per (label, env, options) of `modes`, the reference first, and print each
    notebook's seconds side by side with the reference's over the other's (and `target`, the
    speed-up to reach, if given). Returns the exit status."""
    runs = {}
    for label, env, options in modes:
        rows, wall, code, output = run_pack(
            args.notebooks, args.profile, args.backend, jobs, env, params, options
        )
        if code not in (0, 1):
            sys.stderr.write(output)
            return code
        runs[label] = ({name: (status, seconds) for name, status, seconds in rows}, wall)
    (ref, (ref_rows, ref_wall)), (other, (rows, wall)) = runs.items()
    w1, w2 = max(8, len(ref) + 2), max(8, len(other) + 2)
    print(
        f"labs run --profile {args.profile} --backend {args.backend} --jobs {jobs}"
        + "".join(f" -p {p}" for p in params)
        + f": {os.cpu_count()} CPUs"
    )
    print(
        f"{'notebook':22} {ref + ' s':>{w1}} {other + ' s':>{w2}} {'speed-up':>9}"
        + (f" {'target':>7}" if target else "")
    )
    for name, (status, ref_s) in ref_rows.items():
        other_status, other_s = rows.get(name, ("missing", float("nan")))
        flag = "" if status == other_status == "ok" else f"  ({status} / {other_status})"
        ratio = ref_s / other_s
        print(
            f"{name:22} {ref_s:>{w1}.1f} {other_s:>{w2}.1f} {ratio:>8.2f}x"
            + (f" {target:>6.1f}x" + ("" if ratio >= target else "  under") if target else "")
            + flag
        )
    print(f"{'whole pack (wall)':22} {ref_wall:>{w1}.1f} {wall:>{w2}.1f} {ref_wall / wall:>8.2f}x")
    return 0


def pack_parser(description):
    """The options every pack benchmark takes: notebooks, --backend, --jobs, --profile."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", help="names or prefixes (default: all)")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--profile", default="quick")
    return parser


def main(argv=None):
    parser = pack_parser(__doc__)
    parser.add_argument(
        "--target-pack", type=float, default=TARGET_PACK_S, help="seconds (default: 600)"
    )
    parser.add_argument(
        "--target-notebook",
        type=float,
        default=TARGET_NOTEBOOK_S,
        help="seconds, 0 = none (default: 120)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="write the reports there and keep them"
    )
    args = parser.parse_args(argv)
    rows, wall, code, output = run_pack(
        args.notebooks, args.profile, args.backend, args.jobs, keep=args.keep
    )
    if code not in (0, 1):
        sys.stderr.write(output)
        return code
    print(
        f"labs run --profile {args.profile} --backend {args.backend} --jobs {args.jobs}: "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'notebook':22} {'status':8} {'seconds':>8} {'target s':>9} {'ratio':>7}")
    for name, status, seconds in rows:
        print(
            f"{name:22} {status:8} {seconds:>8.1f} "
            + (
                f"{args.target_notebook:>9.0f} {seconds / args.target_notebook:>6.2f}x"
                + ("" if seconds <= args.target_notebook else "  over")
                if args.target_notebook
                else f"{'-':>9} {'-':>7}"
            )
        )
    over = "" if wall <= args.target_pack else "  over"
    print(
        f"{'whole pack (wall)':22} {'':8} {wall:>8.1f} {args.target_pack:>9.0f} "
        f"{wall / args.target_pack:>6.2f}x{over}"
    )
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
