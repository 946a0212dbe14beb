"""The runner's warm start against cold kernel starts, side by side: the pack run twice with
`labs run --jobs N`.

    python benchmarks/bench_warm_start.py [--backend tensorflow|jax] [--jobs 1] [--profile quick]
        [NOTEBOOK ...]

Cold (`--no-warm-start`): each notebook's process and kernel start when its turn comes and import
everything in its cells, as one `papermill` call per notebook does. Warm (the default): each
notebook's process and kernel start, and import the notebook's modules, while the notebook before it
runs. A notebook's seconds count from its turn to its end, so a warm start shows as fewer seconds
per notebook and less wall time for the pack.
"""

import sys

from bench_quick_pack import compare_packs, pack_parser


def main(argv=None):
    args = pack_parser(__doc__).parse_args(argv)
    return compare_packs(
        args, [("cold", {}, ["--no-warm-start"]), ("warm", {}, [])], jobs=args.jobs
    )


if __name__ == "__main__":
    sys.exit(main())
