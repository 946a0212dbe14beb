"""The runner's warm start against cold kernel starts, side by side: the pack run twice with `labs run --jobs N`.

    python benchmarks/bench_warm_start.py [--backend tensorflow|jax] [--jobs 1] [--profile quick] [NOTEBOOK ...]

Cold (`--no-warm-start`): each notebook's process and kernel start when its turn comes and import everything in
its cells, as one `papermill` call per notebook does. Warm (the default): each notebook's process and kernel
start, and import the notebook's modules, while the notebook before it runs. A notebook's seconds count from
its turn to its end, so a warm start shows as fewer seconds per notebook and less wall time for the pack.
"""
import os
import sys

from bench_quick_pack import pack_parser, run_pack


def main(argv=None):
    args = pack_parser(__doc__).parse_args(argv)
    runs = {}
    for mode, options in (("cold", ["--no-warm-start"]), ("warm", [])):
        rows, wall, code, output = run_pack(args.notebooks, args.profile, args.backend, args.jobs, options=options)
        if code not in (0, 1):
            sys.stderr.write(output)
            return code
        runs[mode] = ({name: (status, seconds) for name, status, seconds in rows}, wall)
    print(f"labs run --profile {args.profile} --backend {args.backend} --jobs {args.jobs}: {os.cpu_count()} CPUs")
    print(f"{'notebook':22} {'cold s':>8} {'warm s':>8} {'speed-up':>9}")
    for name, (status, cold_s) in runs["cold"][0].items():
        warm_status, warm_s = runs["warm"][0].get(name, ("missing", float("nan")))
        flag = "" if status == warm_status == "ok" else f"  ({status} / {warm_status})"
        print(f"{name:22} {cold_s:>8.1f} {warm_s:>8.1f} {cold_s / warm_s:>8.2f}x{flag}")
    (_, cold_wall), (_, warm_wall) = runs["cold"], runs["warm"]
    print(f"{'whole pack (wall)':22} {cold_wall:>8.1f} {warm_wall:>8.1f} {cold_wall / warm_wall:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
