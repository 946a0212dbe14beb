"""The `labs` command: list the notebooks and their parameters, run them with papermill."""
import argparse
import os
import sys
from pathlib import Path

import nbformat

from labs_lib import runner
from labs_lib.params import ParamError, read_params

EPILOG = """examples:
  labs list
  labs run 02_initialization --profile smoke
  labs run --profile quick --jobs 2
  labs run 02 --profile full --backend jax -p epochs=5 -p initializers=he_normal,glorot_normal"""


def build_parser():
    parser = argparse.ArgumentParser(prog="labs", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks-dir", type=Path, default=runner.NOTEBOOKS_DIR,
                        help="folder of the notebooks and their profiles/ (default: the pack's notebooks/)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the notebooks, each with its parameters and profile values")
    run = sub.add_parser("run", help="execute notebooks with papermill and write their reports")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="names or unique prefixes (default: all)")
    run.add_argument("--profile", default="quick", help="smoke (tests, seconds), quick (laptop CPU, minutes) "
                     "or full (the spec's hyperparameters); default: quick")
    run.add_argument("-p", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                     help="override a parameter (repeatable); lists as a,b,c")
    run.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"),
                     help="Keras backend for the kernels: tensorflow or jax (default: $KERAS_BACKEND or tensorflow)")
    run.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    run.add_argument("--out", type=Path, default=None, help="output folder (default: reports/)")
    run.add_argument("--timeout", type=float, default=None,
                     help="seconds per notebook before it counts as failed; 0 = none "
                          "(default: smoke 600, quick 1800, full 21600)")
    run.add_argument("--resume", action="store_true",
                     help="skip notebooks whose outputs are complete and whose inputs are unchanged")
    return parser


def cmd_list(args, out=None):
    out = out or sys.stdout
    notebooks = runner.discover(args.notebooks_dir)
    profiles = {p: runner.load_profile(p, args.notebooks_dir) for p in runner.PROFILES}
    for name, path in notebooks.items():
        out.write(f"\n{name}: {notebook_title(path)}\n")
        for need in runner.requirements(path):
            out.write(f"  requires: the {need} backend (--backend {need}); skipped under other backends\n")
        for p in read_params(path).values():
            by_profile = ", ".join(f"{prof}={profiles[prof][name][p.name]!r}" for prof in runner.PROFILES
                                   if p.name in profiles[prof].get(name, {}))
            out.write(f"  {p.name}: {p.type} = {p.default!r}\n      {p.help}; {p.describe()}\n")
            if by_profile:
                out.write(f"      profiles: {by_profile}\n")
    return 0


def notebook_title(path):
    """The first Markdown heading of a notebook."""
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def cmd_run(args, out=None):
    out = out or sys.stdout
    if args.jobs < 1:
        raise runner.UsageError(f"--jobs must be a positive int, got {args.jobs}")
    if args.timeout is not None and not 0 <= args.timeout < float("inf"):
        raise runner.UsageError(f"--timeout must be a number of seconds >= 0, got {args.timeout}")
    runner.check_backend(args.backend)
    jobs = runner.plan(args.notebooks, args.profile, args.overrides, args.notebooks_dir)
    timeout = runner.DEFAULT_TIMEOUT[args.profile] if args.timeout is None else args.timeout
    opts = runner.RunOptions(profile=args.profile, backend=args.backend, jobs=args.jobs, timeout=timeout,
                             resume=args.resume, out=(args.out or runner.PROJECT_ROOT / "reports").resolve())
    out.write(f"labs run: {len(jobs)} notebook(s), profile {args.profile}, backend {args.backend}, "
              f"output in {opts.out}\n")
    results = runner.run(jobs, opts, stream=out)
    out.write("\n" + runner.summary(results) + "\n")
    return runner.exit_status(results)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return {"list": cmd_list, "run": cmd_run}[args.command](args)
    except (runner.UsageError, ParamError) as exc:
        sys.stderr.write(f"labs: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
