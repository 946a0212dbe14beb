"""The whole pack on the quick profile, timed per notebook against the issue-9 targets (2-core CPU: whole pack
under 10 minutes, each notebook under 2 minutes), kernel starts included.

    python benchmarks/bench_quick_pack.py [--backend tensorflow|jax] [--jobs 1] [--profile quick] [NOTEBOOK ...]

Runs `labs run --profile quick` into a temporary folder (the reports/ folder is left alone), then prints each
notebook's wall time from its run.json beside the target, and the whole run's wall time.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_NOTEBOOK_S = 120
TARGET_PACK_S = 600


def run_pack(notebooks, profile, backend, jobs=1, env=None, params=(), options=()):
    """`labs run` into a temporary folder: ([(notebook, status, seconds)], wall seconds, exit code, output).

    env: variables added to the environment; params: NAME=VALUE overrides; options: more `labs run` options."""
    with tempfile.TemporaryDirectory(prefix="bench-pack-") as out:
        cmd = [sys.executable, "-m", "labs_lib.cli", "run", *notebooks, "--profile", profile, "--backend", backend,
               "--jobs", str(jobs), "--out", out, *[arg for p in params for arg in ("-p", p)], *options]
        started = time.perf_counter()
        result = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})))
        wall = time.perf_counter() - started
        rows = []
        for record_path in sorted(Path(out).glob("*/run.json")):
            record = json.loads(record_path.read_text())
            rows.append((record["notebook"], record["status"], record["seconds"]))
    return rows, wall, result.returncode, result.stdout + result.stderr


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="names or prefixes (default: all)")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args(argv)
    rows, wall, code, output = run_pack(args.notebooks, args.profile, args.backend, args.jobs)
    if code not in (0, 1):
        sys.stderr.write(output)
        return code
    print(f"labs run --profile {args.profile} --backend {args.backend} --jobs {args.jobs}: {os.cpu_count()} CPUs")
    print(f"{'notebook':22} {'status':8} {'seconds':>8} {'target s':>9} {'ratio':>7}")
    for name, status, seconds in rows:
        print(f"{name:22} {status:8} {seconds:>8.1f} {TARGET_NOTEBOOK_S:>9} {seconds / TARGET_NOTEBOOK_S:>6.2f}x"
              + ("" if seconds <= TARGET_NOTEBOOK_S else "  over"))
    print(f"{'whole pack (wall)':22} {'':8} {wall:>8.1f} {TARGET_PACK_S:>9} {wall / TARGET_PACK_S:>6.2f}x"
          + ("" if wall <= TARGET_PACK_S else "  over"))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
