"""`labs grade`: execute filled-in student notebooks headless and score their test cells.

Each submission runs in a process of its own (labs_tools.grade_worker) with a timeout, on a
profile's parameters; a test cell earns its points when it ran without an error (nbgrader's rule,
`nbgrader.utils.determine_grade`), a cell never reached earns none. A crash, a hang or a flood of
output scores what was earned up to there and does not stop the other submissions.
"""

import csv
import io
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from labs_lib.shared.files import atomic_write, to_json
from labs_tools import processes, runner

CSV_FILE = "grades.csv"
COLUMNS = ("student", "notebook", "exercise", "points", "max_points", "message")


@dataclass
class Submission:
    """A student's notebook, matched to the pack's notebook it is a version of."""

    path: Path
    student: str
    notebook: str


@dataclass
class Score:
    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    message: str


def graded_cells(nb):
    """{test grade_id: cell} of a notebook's nbgrader test cells."""
    return {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


def identify(path, solutions):
    """The Submission at `path`: a readable notebook whose test cells are one pack notebook's,
    unchanged. Raises runner.UsageError naming the file and the problem."""
    path = Path(path)
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for a non-notebook
        raise runner.UsageError(f"{path} is not a Jupyter notebook: {exc}") from None
    tests = graded_cells(nb)
    for name, solution in solutions.items():
        expected = graded_cells(solution)
        if set(tests) != set(expected):
            continue
        for grade_id, cell in expected.items():
            same_points = tests[grade_id].metadata["nbgrader"].get("points") == cell.metadata[
                "nbgrader"
            ].get("points")
            if tests[grade_id].source != cell.source or not same_points:
                raise runner.UsageError(
                    f"{path}: test cell {grade_id} differs from {name}'s (tampered): restore it "
                    "from the released notebook"
                )
        return Submission(path, student_of(path, solutions), name)
    raise runner.UsageError(
        f"{path} is not one of the pack's notebooks: its test cells "
        f"({', '.join(sorted(tests)) or 'none'}) match none of theirs"
    )


def student_of(path, names):
    """The student a submission belongs to: the folder under `submitted/` (nbgrader's
    submitted/<student>/<assignment>/), else the file's folder when the file keeps its notebook's
    name, else the file's name."""
    path = Path(path).resolve()
    parts = path.parts
    if "submitted" in parts[:-2]:
        last = len(parts) - 1 - parts[::-1].index("submitted")  # the innermost submitted/
        return parts[last + 1]
    if path.stem in names and path.parent.name:
        return path.parent.name
    return path.stem


def run_submission(sub, parameters, timeout, backend, preexec_fn=None, stop=None):
    """Execute one submission in its own process; (executed notebook or None, problem or '').
    preexec_fn: run in that process before it starts (a Dask worker ties it to its own life);
    stop: an Event that, once set, stops the process within half a second."""
    with tempfile.TemporaryDirectory(prefix="labs-grade-") as work:
        output = Path(work) / "executed.ipynb"
        params = {**parameters, "out_dir": str(Path(work) / "outputs")}
        cmd = [
            sys.executable,
            "-m",
            "labs_tools.grade_worker",
            str(sub.path.resolve()),
            str(output),
        ]
        cmd += [json.dumps(params), work]
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env=runner.kernel_env(backend),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
        problem = wait_for_submission(proc, timeout, stop)
        executed = nbformat.read(str(output), as_version=4) if output.exists() else None
        return executed, problem


def wait_for_submission(proc, timeout, stop=None):
    """Wait for a grading process: '' when it ends well, else the problem. Past `timeout` seconds,
    or once `stop` is set, it is killed with its kernel."""
    deadline = time.monotonic() + timeout if timeout else float("inf")
    while True:
        try:
            _, err = proc.communicate(timeout=0.5)
            return f"the run stopped: {last_line(err)}" if proc.returncode else ""
        except subprocess.TimeoutExpired:
            stopped = stop is not None and stop.is_set()
            if stopped or time.monotonic() > deadline:
                processes.kill_tree(proc)
                proc.communicate()
                return "stopped" if stopped else f"stopped after the {timeout:g} s timeout"


def last_line(err):
    lines = [line for line in (err or b"").decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def scores(sub, executed, problem, solution):
    """One Score per test cell of the pack's notebook, from the executed submission."""
    from nbgrader.utils import determine_grade

    cells = graded_cells(executed) if executed is not None else {}
    found = []
    for grade_id, reference in graded_cells(solution).items():
        max_points = float(reference.metadata["nbgrader"]["points"])
        cell = cells.get(grade_id)
        if cell is None or cell.get("execution_count") is None:
            points, message = 0.0, f"not reached ({problem or 'the run ended before it'})"
        else:
            points = float(determine_grade(cell)[0] or 0.0)
            message = error_message(cell) if points < max_points else "passed"
        exercise = grade_id.removeprefix("test_")
        found.append(Score(sub.student, sub.notebook, exercise, points, max_points, message))
    return found


def error_message(cell):
    """The error a test cell showed: 'AssertionError: ... ' (or its stderr)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {out.get('evalue')}"
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "wrote to stderr: " + out.get("text", "").strip()[:300]
    return "no points"


def grade(
    paths, profile, out, jobs=1, timeout=600, backend="tensorflow", notebooks_dir=None, client=None
):
    """Grade every submission (checked first, before anything runs); write <student>.json per
    student and grades.csv in `out`; returns the Scores. client: a Dask client to run the
    submissions on (labs_tools.cluster), else they run here, `jobs` at a time."""
    notebooks_dir = notebooks_dir or runner.NOTEBOOKS_DIR
    pack = runner.discover(notebooks_dir)
    solutions = {n: nbformat.read(str(p), as_version=4) for n, p in pack.items()}
    solutions = {n: nb for n, nb in solutions.items() if graded_cells(nb)}
    subs = [identify(p, solutions) for p in paths]
    profiles = runner.load_profile(profile, notebooks_dir)

    def params(sub):
        return {**profiles.get(sub.notebook, {}), "profile": profile}

    if client is not None:
        from labs_tools import cluster

        runs = cluster.grade(client, subs, params, timeout, backend)
    else:
        runs = run_here(subs, params, timeout, backend, jobs)
    found = [
        score
        for sub, (executed, problem) in zip(subs, runs)
        for score in scores(sub, executed, problem, solutions[sub.notebook])
    ]
    write_results(found, Path(out))
    return found


def run_here(subs, params, timeout, backend, jobs):
    """[(executed notebook or None, problem)] per submission, `jobs` at a time on this machine. A
    stop signal (Ctrl-C, SIGTERM, SIGHUP) kills every grading process and kernel within a second
    and is raised again (processes.Interrupted): nothing is written."""
    stop, pool = processes.Stop(), ThreadPoolExecutor(max_workers=jobs)
    try:
        with processes.interrupted_by_signals():
            futures = [
                pool.submit(run_submission, s, params(s), timeout, backend, stop=stop) for s in subs
            ]
            return [future.result() for future in futures]
    except KeyboardInterrupt as exc:
        stop.set_by(processes.signum_of(exc))
        raise processes.Interrupted(stop.signum) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def write_results(found, out):
    """<student>.json (their scores, by notebook) and grades.csv (the class), atomically."""
    for student in sorted({s.student for s in found}):
        mine = [asdict(s) for s in found if s.student == student]
        total = sum(s["points"] for s in mine)
        record = {
            "student": student,
            "points": total,
            "max_points": sum(s["max_points"] for s in mine),
            "scores": mine,
        }
        atomic_write(out / f"{student}.json", to_json(record))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows([getattr(s, c) for c in COLUMNS] for s in found)
    atomic_write(out / CSV_FILE, buffer.getvalue())
