"""The `labs` command: list the notebooks, run them with papermill, make PDF reports and the
gallery, start JupyterLab."""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil

from labs_lib.references import ReferenceError
from labs_lib.reporting import plural
from labs_lib.shared.params import ParamError, read_params
from labs_tools import check, cluster, course, devices, gallery, grading, pdf, processes, runner

EPILOG = """examples:
  labs list
  labs run 02_initialization --profile smoke
  labs run --profile quick --jobs 2 --pdf
  labs run --profile quick --check   # then hold every run against notebooks/references.yaml
  labs check                     # the runs in reports/ against the references; exit 1 on a fail
  labs exercises --out release/  # student versions: solutions stubbed (nbgrader), an index
  labs grade submitted/*/*.ipynb --out grades/   # run and score the students' notebooks
  labs run 02 --profile full --backend jax -p epochs=5 -p initializers=he_normal,glorot_normal
  labs pdf                       # a PDF per executed notebook and one for the pack, in reports/
  labs gallery                   # reports/index.html and reports/README.md
  labs lab                       # JupyterLab on the notebooks, prints the URL"""

# JupyterLab's settings defaults for `labs lab` (overrides.json): no pop-up about Jupyter's news
LAB_SETTINGS = Path(__file__).parent / "jupyterlab"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="labs",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--notebooks-dir",
        type=Path,
        default=runner.NOTEBOOKS_DIR,
        help="folder of the notebooks and their profiles/ (default: the pack's notebooks/)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the notebooks, each with its parameters and profile values")
    add_run_parser(sub)
    add_check_parser(sub)
    add_exercises_parser(sub)
    add_grade_parser(sub)
    add_pdf_parser(sub)
    add_gallery_parser(sub)
    add_lab_parser(sub)
    return parser


def add_run_parser(sub):
    run = sub.add_parser("run", help="execute notebooks with papermill and write their reports")
    add_run_selection(run)
    add_run_execution(run)
    add_run_placement(run)


def add_run_selection(run):
    """`labs run` options that say what runs: notebooks, profile, parameters, backend."""
    run.add_argument(
        "notebooks", nargs="*", metavar="NOTEBOOK", help="names or unique prefixes (default: all)"
    )
    run.add_argument(
        "--profile",
        default="quick",
        help="smoke (tests, seconds), quick (laptop CPU, minutes) "
        "or full (the spec's hyperparameters); default: quick",
    )
    run.add_argument(
        "-p",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter (repeatable); lists as a,b,c",
    )
    run.add_argument(
        "--backend",
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="Keras backend for the kernels: tensorflow or jax "
        "(default: $KERAS_BACKEND or tensorflow)",
    )


def add_executor(parser, what):
    """--executor and --scheduler, for `labs run` and `labs grade`."""
    parser.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help=f"where {what}: this machine (default) or a Dask cluster (--scheduler)",
    )
    parser.add_argument(
        "--scheduler",
        default=os.environ.get("DASK_SCHEDULER_ADDRESS", ""),
        help="the Dask scheduler's address, e.g. tcp://10.0.0.5:8786 "
        "(default: $DASK_SCHEDULER_ADDRESS)",
    )


def add_run_placement(run):
    """`labs run` options that say where it runs: GPUs, a parameter grid, a Dask cluster."""
    run.add_argument(
        "--gpus",
        default="",
        help="GPU indices to pin the notebooks' kernels to, round-robin (e.g. 0,1; sets "
        "CUDA_VISIBLE_DEVICES per kernel; default: every kernel sees every GPU)",
    )
    run.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="run each notebook once per value (repeatable: every combination), each run in "
        "its own folder <notebook>--NAME=V",
    )
    add_executor(run, "the notebooks run")


def add_run_execution(run):
    """`labs run` options that say how it runs: jobs, output, timeout, resume, warm start, PDFs."""
    run.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    run.add_argument("--out", type=Path, default=None, help="output folder (default: reports/)")
    run.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per notebook before it counts as failed; 0 = none "
        "(default: smoke 600, quick 1800, full 21600)",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="skip notebooks whose outputs are complete and whose inputs are unchanged",
    )
    run.add_argument(
        "--no-warm-start",
        dest="warm_start",
        action="store_false",
        help="start each notebook's kernel only when its turn comes "
        "(default: while the one before runs)",
    )
    run.add_argument(
        "--pdf",
        action="store_true",
        help="then make the PDF reports of the notebooks that ran (labs pdf)",
    )
    run.add_argument(
        "--check",
        action="store_true",
        help="then check the notebooks that ran against notebooks/references.yaml (labs check); "
        "exit 1 if a check fails",
    )


def add_check_parser(sub):
    chk = sub.add_parser(
        "check",
        help="hold executed notebooks' metrics.json against notebooks/references.yaml",
        description="Evaluate every reference that applies to each run's profile (smoke: the exact "
        "invariants; quick: those and the ranges measured for quick; full: those and the "
        "published values), print one table, write check.json beside each metrics.json. Exit "
        "status 0 if every check passes or does not apply, 1 if one fails, 2 on bad arguments.",
    )
    chk.add_argument(
        "notebooks",
        nargs="*",
        metavar="NOTEBOOK",
        help="names or unique prefixes (default: every notebook run into the reports folder)",
    )
    chk.add_argument(
        "--reports",
        "--out",
        dest="out",
        type=Path,
        default=None,
        help="reports folder the notebooks were run into (default: reports/)",
    )


def add_exercises_parser(sub):
    ex = sub.add_parser(
        "exercises",
        help="student versions of the notebooks: solutions stubbed, outputs cleared (nbgrader)",
        description="Write each notebook's student version with nbgrader's preprocessors (each "
        "solution region replaced by `raise NotImplementedError()`, hidden tests removed, outputs "
        "cleared, test cells locked with checksums) and an index of the exercises and points "
        f"({course.INDEX_MD}, {course.INDEX_JSON}).",
    )
    ex.add_argument(
        "notebooks", nargs="*", metavar="NOTEBOOK", help="names or unique prefixes (default: all)"
    )
    ex.add_argument("--out", type=Path, required=True, help="folder for the student versions")
    ex.add_argument(
        "--profile",
        default=None,
        help="set the released notebooks' parameters to a profile's values, e.g. quick "
        "(default: the notebooks' own, the full profile)",
    )


def add_grade_parser(sub):
    gr = sub.add_parser(
        "grade",
        help="execute filled-in student notebooks headless and score their test cells",
        description="Run each submission in a process of its own on a profile's parameters, going "
        "on after errors; a test cell earns its points when it runs without an error (nbgrader's "
        "rule), a cell never reached earns none. Writes <student>.json and "
        f"{grading.CSV_FILE} in --out.",
    )
    gr.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION.ipynb")
    gr.add_argument("--profile", default="smoke", help="smoke (default) or quick")
    gr.add_argument("--out", type=Path, default=Path("grades"), help="default: grades/")
    gr.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    add_executor(gr, "the submissions run")
    gr.add_argument(
        "--timeout", type=float, default=900, help="seconds per submission (default 900)"
    )
    gr.add_argument(
        "--backend",
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="Keras backend of the kernels (default: $KERAS_BACKEND or tensorflow)",
    )


def add_pdf_parser(sub):
    pdf = sub.add_parser(
        "pdf",
        help="PDF reports of executed notebooks (nbconvert and xelatex), and one for the pack",
    )
    pdf.add_argument(
        "notebooks",
        nargs="*",
        metavar="NOTEBOOK",
        help="names or prefixes of the pack's notebooks, or paths to executed .ipynb files "
        "(default: every notebook executed in the reports folder, plus the pack's PDF)",
    )
    pdf.add_argument(
        "--out",
        type=Path,
        default=None,
        help="reports folder the notebooks were run into (default: reports/)",
    )
    pdf.add_argument(
        "--with-code",
        action="store_true",
        help="keep the code cells and every output (default: report style)",
    )
    pdf.add_argument("--paper", default="a4", help="paper size: a4 or letter (default: a4)")
    pdf.add_argument(
        "--pack",
        action="store_true",
        help=f"also the combined PDF ({gallery.PACK_PDF}) when notebooks are named",
    )


def add_gallery_parser(sub):
    gal = sub.add_parser(
        "gallery", help="write reports/index.html and reports/README.md from the reports folder"
    )
    gal.add_argument("--out", type=Path, default=None, help="reports folder (default: reports/)")


def add_lab_parser(sub):
    lab = sub.add_parser(
        "lab", help="JupyterLab on the notebooks, with a kernel of this environment"
    )
    lab.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    lab.add_argument("--port", type=int, default=8888, help="port (default: 8888)")
    lab.add_argument(
        "--backend",
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="Keras backend of the kernels: tensorflow or jax "
        "(default: $KERAS_BACKEND or tensorflow)",
    )


def cmd_list(args, out=None):
    out = out or sys.stdout
    notebooks = runner.discover(args.notebooks_dir)
    profiles = {p: runner.load_profile(p, args.notebooks_dir) for p in runner.PROFILES}
    for name, path in notebooks.items():
        out.write(f"\n{name}: {notebook_title(path)}\n")
        for need in runner.requirements(path):
            out.write(
                f"  requires: the {need} backend (--backend {need}); skipped under other backends\n"
            )
        for p in read_params(path).values():
            by_profile = ", ".join(
                f"{prof}={profiles[prof][name][p.name]!r}"
                for prof in runner.PROFILES
                if p.name in profiles[prof].get(name, {})
            )
            out.write(f"  {p.name}: {p.type} = {p.default!r}\n      {p.help}; {p.describe()}\n")
            if by_profile:
                out.write(f"      profiles: {by_profile}\n")
    return 0


def notebook_title(path):
    """The first Markdown heading of the notebook at `path`."""
    return pdf.notebook_title(nbformat.read(str(path), as_version=4))


def run_options(args):
    """RunOptions from `labs run`'s arguments; UsageError on a bad --jobs, --timeout or --gpus."""
    if args.jobs < 1:
        raise runner.UsageError(f"--jobs must be a positive int, got {args.jobs}")
    if args.timeout is not None and not 0 <= args.timeout < float("inf"):
        raise runner.UsageError(f"--timeout must be a number of seconds >= 0, got {args.timeout}")
    try:
        gpus = devices.parse_gpus(args.gpus)
    except ValueError as exc:
        raise runner.UsageError(str(exc)) from None
    runner.check_backend(args.backend)
    return runner.RunOptions(
        profile=args.profile,
        backend=args.backend,
        jobs=args.jobs,
        timeout=args.timeout
        if args.timeout is not None
        else runner.DEFAULT_TIMEOUT.get(args.profile),
        resume=args.resume,
        warm_start=args.warm_start,
        gpus=gpus,
        out=reports_folder(args),
    )


def executor_client(args):
    """None for the local executor; a connected Dask client for --executor dask."""
    if args.executor == "local":
        return None
    if not args.scheduler:
        raise runner.UsageError(
            "--executor dask needs --scheduler ADDRESS (or $DASK_SCHEDULER_ADDRESS)"
        )
    return cluster.connect(args.scheduler)


def cmd_run(args, out=None):
    out = out or sys.stdout
    opts = run_options(args)
    jobs = runner.plan(args.notebooks, args.profile, args.overrides, args.notebooks_dir)
    jobs = runner.expand_grid(jobs, runner.parse_grid(args.grid, jobs))
    client = executor_client(args)  # a scheduler that cannot be reached stops the run here
    if args.pdf:
        pdf.check_tools()
    if args.check:
        load_references(args.notebooks_dir)
    out.write(
        f"labs run: {plural(len(jobs), 'notebook')}, profile {args.profile}, "
        f"backend {args.backend}, output in {opts.out}\n"
    )
    if client is None:
        results = runner.run(jobs, opts, stream=out)
    else:
        with client:
            results = cluster.run(jobs, opts, client, stream=out)
    # the terminal may be gone (SIGHUP): what is left to say is said if it can be
    runner.write_quietly(out, "\n" + runner.summary(results) + "\n")
    status = runner.exit_status(results)
    stopped = status >= 128  # a stop signal: no PDFs or checks, the gallery of what is there
    if args.pdf and not stopped:
        ran = [opts.out / r.name / f"{r.name}.ipynb" for r in results if r.status == "ok"]
        make_pdfs(ran, opts.out, pack=len(jobs) > 1, out=out)
    if args.check and not stopped:
        status = status or check_after_run(results, opts.out, args.notebooks_dir, out)
    write_gallery(opts.out, args.notebooks_dir, out)
    return status


def check_after_run(results, folder, notebooks_dir, out):
    """`labs run --check`: the checks of the notebooks that ran and of those --resume found up to
    date; 1 if one fails."""
    ran = [
        folder / r.name for r in results if r.status == "ok" or r.message == "outputs up to date"
    ]
    if not ran:
        return 0
    out.write("\n")
    return check.run_checks(ran, check.references_file(notebooks_dir), out)


def load_references(notebooks_dir):
    """notebooks/references.yaml, read and checked: a malformed file stops a run before it runs."""
    from labs_lib import references

    return references.load(check.references_file(notebooks_dir))


def cmd_check(args, out=None):
    out = out or sys.stdout
    folder = reports_folder(args)
    load_references(args.notebooks_dir)
    run_folders = check.folders(args.notebooks, folder, args.notebooks_dir)
    status = check.run_checks(run_folders, check.references_file(args.notebooks_dir), out)
    write_gallery(folder, args.notebooks_dir, out)
    return status


def reports_folder(args):
    return (args.out or runner.PROJECT_ROOT / "reports").resolve()


def executed_notebooks(requested, folder, notebooks_dir):
    """Paths of the executed notebooks to typeset: named ones (each must exist), else every one in
    `folder`."""
    available = runner.discover(notebooks_dir)
    if not requested:
        found = [
            folder / n / f"{n}.ipynb" for n in available if (folder / n / f"{n}.ipynb").exists()
        ]
        if not found:
            raise pdf.PdfError(
                f"no executed notebooks in {folder}: run some first (labs run --profile quick)"
            )
        return found
    paths = []
    for req in requested:
        path = Path(req)
        if req.endswith(".ipynb") and path.exists():
            paths.append(path.resolve())
            continue
        name = runner.resolve_names([req], available)[0]
        path = folder / name / f"{name}.ipynb"
        if not path.exists():
            raise pdf.PdfError(
                f"{name} has not been run into {folder} (no {path.name} there): "
                f"labs run {name} first"
            )
        paths.append(path)
    return paths


def make_pdfs(paths, folder, pack, out, with_code=False, paper="a4"):
    """Each executed notebook's PDF beside it and, with `pack`, the combined one in `folder`."""
    for path in paths:
        started = time.time()
        written = pdf.notebook_pdf(path, with_code=with_code, paper=paper)
        out.write(f"labs pdf: {written} ({time.time() - started:.1f} s)\n")
    if pack and paths:
        started = time.time()
        written = pdf.pack_pdf(
            paths, Path(folder) / gallery.PACK_PDF, with_code=with_code, paper=paper
        )
        out.write(f"labs pdf: {written}, {len(paths)} notebooks ({time.time() - started:.1f} s)\n")


def write_gallery(folder, notebooks_dir, out):
    if Path(folder).is_dir():
        page, _ = gallery.write(runner.discover(notebooks_dir), folder)
        runner.write_quietly(out, f"gallery: {page}\n")


def cmd_exercises(args, out=None):
    out = out or sys.stdout
    if args.profile is not None and args.profile not in runner.PROFILES:
        raise runner.UsageError(
            f"--profile must be one of {', '.join(runner.PROFILES)}, got {args.profile!r}"
        )
    found = course.write_student_versions(
        args.notebooks, args.out, args.notebooks_dir, args.profile
    )
    total = sum(e.points for e in found)
    notebooks = len({e.notebook for e in found})
    out.write(
        f"labs exercises: {len(found)} exercises ({total:g} points) in "
        f"{plural(notebooks, 'notebook')}: student versions and {course.INDEX_MD} in "
        f"{args.out}\n"
    )
    return 0


def cmd_grade(args, out=None):
    out = out or sys.stdout
    if args.profile not in ("smoke", "quick"):
        raise runner.UsageError(f"--profile must be smoke or quick, got {args.profile!r}")
    if args.jobs < 1:
        raise runner.UsageError(f"--jobs must be a positive int, got {args.jobs}")
    if not 0 < args.timeout < float("inf"):
        raise runner.UsageError(f"--timeout must be a number of seconds > 0, got {args.timeout}")
    runner.check_backend(args.backend)
    client = executor_client(args)  # a scheduler that cannot be reached stops here
    try:
        found = grading.grade(
            args.submissions,
            args.profile,
            args.out,
            jobs=args.jobs,
            timeout=args.timeout,
            backend=args.backend,
            notebooks_dir=args.notebooks_dir,
            client=client,
        )
    except processes.Interrupted as exc:  # every grading process stopped; nothing written
        sys.stderr.write(f"labs grade: stopped by {exc}; no grades written\n")
        return 128 + exc.signum
    for s in found:
        out.write(
            f"{s.student:16} {s.notebook:22} {s.exercise:26} {s.points:g}/{s.max_points:g}"
            f"  {s.message[:80]}\n"
        )
    out.write(f"labs grade: {grading.CSV_FILE} and one JSON per student in {args.out}\n")
    return 0


def cmd_pdf(args, out=None):
    out = out or sys.stdout
    pdf.check_paper(args.paper)
    pdf.check_tools()
    folder = reports_folder(args)
    paths = executed_notebooks(args.notebooks, folder, args.notebooks_dir)
    for path in paths:
        pdf.read_executed(path)  # every input checked before anything is written
    in_pack = [p for p in paths if p.parent.parent == folder]
    make_pdfs(
        paths,
        folder,
        pack=(not args.notebooks or args.pack) and len(in_pack) > 0,
        out=out,
        with_code=args.with_code,
        paper=args.paper,
    )
    write_gallery(folder, args.notebooks_dir, out)
    return 0


def cmd_gallery(args, out=None):
    out = out or sys.stdout
    folder = reports_folder(args)
    if not folder.is_dir():
        raise runner.UsageError(
            f"{folder} does not exist: run some notebooks first (labs run --profile quick)"
        )
    write_gallery(folder, args.notebooks_dir, out)
    return 0


def cmd_lab(args, out=None):
    """Start JupyterLab on the notebooks folder (a kernel of this environment), print its URL, wait
    for it; Ctrl-C, SIGTERM or SIGHUP stop it (exit 128 + the signal's number)."""
    out = out or sys.stdout
    runner.check_backend(args.backend)
    if not 0 < args.port < 65536:
        raise runner.UsageError(f"--port must be in [1, 65535], got {args.port}")
    token = secrets.token_hex(16)
    cmd = lab_command(args.notebooks_dir, args.ip, args.port, token)
    out.write(
        f"JupyterLab on {Path(args.notebooks_dir).resolve()} (backend {args.backend}); open\n"
        f"    http://{args.ip}:{args.port}/lab?token={token}\nCtrl-C stops it.\n"
    )
    out.flush()
    server = None
    with processes.interrupted_by_signals():
        try:
            # a session of its own: a signal reaches this process only, which stops the server
            server = subprocess.Popen(
                cmd,
                env=runner.kernel_env(args.backend),
                start_new_session=True,
                preexec_fn=lambda: processes.die_with_parent(signal.SIGTERM),
            )
            return server.wait()
        except KeyboardInterrupt as exc:
            if server is not None:
                stop_server(server)
            return 128 + processes.signum_of(exc)


def stop_server(server, grace=15):
    """Stop a JupyterLab server as its own Ctrl-C would (SIGTERM: it shuts its kernels down), then
    kill whatever of it is left after `grace` seconds."""
    try:
        left = psutil.Process(server.pid).children(recursive=True)
    except psutil.Error:
        left = []
    server.terminate()
    try:
        server.wait(timeout=grace)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):  # or a second Ctrl-C: no more waiting
        processes.kill_tree(server)
    for proc in left:  # kernels it could not shut down
        try:
            proc.kill()
        except psutil.Error:
            pass


def lab_command(notebooks_dir, ip, port, token):
    """The command line that starts JupyterLab from this environment (as root too) without a
    browser, and without its pop-up asking whether to fetch Jupyter's news (LAB_SETTINGS)."""
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ip={ip}",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={Path(notebooks_dir).resolve()}",
        f"--LabApp.app_settings_dir={LAB_SETTINGS}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return {
            "list": cmd_list,
            "run": cmd_run,
            "check": cmd_check,
            "exercises": cmd_exercises,
            "grade": cmd_grade,
            "pdf": cmd_pdf,
            "gallery": cmd_gallery,
            "lab": cmd_lab,
        }[args.command](args)
    except (runner.UsageError, ParamError, pdf.PdfError, ReferenceError) as exc:
        sys.stderr.write(f"labs: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
