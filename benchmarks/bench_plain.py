"""Each notebook against the plain approach of past lab reports, side by side (issue 9: at least 3x
faster).

    python benchmarks/bench_plain.py [--backend tensorflow|jax] [--profile quick] [-p NAME=VALUE
        ...] [NOTEBOOK ...]

Runs the same notebooks twice with `labs run --jobs 1` (one kernel process per notebook): first as
the reference, with `--no-warm-start` (each kernel starts at its notebook's turn) and the plain
reference patched into each kernel (plain_reference.py: steps_per_execution 1, Keras's
validation_data and predict, one model.fit per net instead of side-by-side training, one model.fit
epoch per full-batch step); then as the pack runs normally, with warm starts (each notebook's kernel
starts and imports while the one before runs; a notebook's seconds count from its turn). Prints each
notebook's seconds and the speed-up.

The reference keeps two levers it cannot undo without changing the notebook's code, so its times are
a lower bound on the plain approach's: side-by-side fits that carry callbacks other than
EvaluateAtEpochs (07's weight trajectories) and 07's gradient-norm descent (a compiled loop with no
model.fit equivalent).
"""

import argparse
import os
import sys
from pathlib import Path

from bench_quick_pack import compare_packs

TARGET_SPEEDUP = 3.0
HERE = Path(__file__).resolve().parent


def plain_env():
    """Environment that makes every notebook kernel call plain_reference.install() before its first
    cell."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONSTARTUP": str(HERE / "plain_startup.py"), "PYTHONPATH": path}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", help="names or prefixes (default: all)")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--profile", default="quick")
    parser.add_argument(
        "-p",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="parameter override for both runs (repeatable)",
    )
    args = parser.parse_args(argv)
    return compare_packs(
        args,
        [("plain", plain_env(), ["--no-warm-start"]), ("labs_lib", {}, [])],
        params=args.params,
        target=TARGET_SPEEDUP,
    )


if __name__ == "__main__":
    sys.exit(main())
