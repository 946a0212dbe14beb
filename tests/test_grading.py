"""`labs grade` on a small pack of one exercise notebook (numpy only, so kernels start fast): full
marks for the solution, zero for the stub, partial scores for a crash, a hang and a flood, clear
errors for bad input; and on a real notebook of the pack, its solution and its student version."""

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labs_tools import course, processes, runner

HAVE_TF = importlib.util.find_spec("tensorflow") is not None
PARAMS = 'profile: str = "full"  # profile label\nout_dir: str = ""  # outputs'


def exercise_cells(grade_id, solution, test, points):
    sol = new_code_cell(solution)
    sol.metadata["nbgrader"] = {
        "grade": False,
        "grade_id": grade_id,
        "locked": False,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    tst = new_code_cell(test)
    tst.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": f"test_{grade_id}",
        "locked": True,
        "points": points,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    return [new_markdown_cell(f"### Exercise: {grade_id}"), sol, tst]


SQUARE = "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"
TEST_SQUARE = "assert square(3) == 9, f'square(3): expected 9, got {square(3)}'"
HALF = "def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION"
TEST_HALF = "assert half(3) == 1.5, f'half(3): expected 1.5, got {half(3)}'"


@pytest.fixture
def pack(tmp_path):
    return make_pack(tmp_path / "notebooks")


def make_pack(folder):
    """`folder` with zz_exercises: two exercises (1 and 2 points) and a middle cell to break."""
    (folder / "profiles").mkdir(parents=True)
    for profile in ("smoke", "quick", "full"):
        (folder / "profiles" / f"{profile}.yaml").write_text("")
    params = new_code_cell(PARAMS, metadata={"tags": ["parameters"]})
    cells = [new_markdown_cell("# Exercises"), params]
    cells += exercise_cells("ex_square", SQUARE, TEST_SQUARE, 1)
    cells += [new_code_cell("middle = 1  # the cell a broken submission changes")]
    cells += exercise_cells("ex_half", HALF, TEST_HALF, 2)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(folder / "zz_exercises.ipynb"))
    return folder


# the scores of the solution (ada), the released stub (stella) and a wrong half() (wrong)
SOLVED_STUB_WRONG = {
    ("ada", "ex_square"): 1,
    ("ada", "ex_half"): 2,
    ("stella", "ex_square"): 0,
    ("stella", "ex_half"): 0,
    ("wrong", "ex_square"): 1,
    ("wrong", "ex_half"): 0,
}


def submission(pack, tmp_path, student, edit=None):
    """submitted/<student>/zz_exercises.ipynb: the solution with `edit` (old, new) applied."""
    nb = nbformat.read(str(pack / "zz_exercises.ipynb"), as_version=4)
    if edit:
        cell = next(c for c in nb.cells if edit[0] in c.source)
        cell.source = cell.source.replace(*edit)
    path = tmp_path / "submitted" / student / "zz_exercises.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    return path


def labs(pack, *args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "labs_tools.cli", "--notebooks-dir", str(pack), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_grade_scores_full_zero_and_partial_and_a_crash_hang_or_flood_stops_no_one(pack, tmp_path):
    stub = course.student_version(nbformat.read(str(pack / "zz_exercises.ipynb"), as_version=4))
    stub_path = tmp_path / "submitted" / "stella" / "zz_exercises.ipynb"
    stub_path.parent.mkdir(parents=True)
    nbformat.write(stub, str(stub_path))
    subs = [
        submission(pack, tmp_path, "ada"),
        stub_path,
        submission(pack, tmp_path, "wrong", ("return x / 2", "return x // 2")),
        submission(pack, tmp_path, "crash", ("middle = 1", "import os; os._exit(1)")),
        submission(pack, tmp_path, "hang", ("middle = 1", "import time; time.sleep(600)")),
        submission(pack, tmp_path, "flood", ("middle = 1", "for i in range(300000): print(i)")),
    ]
    out = tmp_path / "grades"
    relative = [str(p.relative_to(tmp_path)) for p in subs]  # as `labs grade submitted/*/*.ipynb`
    args = ["grade", *relative, "--out", str(out), "--jobs", "3", "--timeout", "25"]
    result = labs(pack, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = list(csv.DictReader((out / "grades.csv").open()))
    got = {(r["student"], r["exercise"]): float(r["points"]) for r in rows}
    assert got == {
        **SOLVED_STUB_WRONG,
        ("crash", "ex_square"): 1,
        ("crash", "ex_half"): 0,
        ("hang", "ex_square"): 1,
        ("hang", "ex_half"): 0,
        ("flood", "ex_square"): 1,
        ("flood", "ex_half"): 2,
    }
    messages = {(r["student"], r["exercise"]): r["message"] for r in rows}
    assert messages["stella", "ex_half"].startswith("NotImplementedError")
    assert messages["wrong", "ex_half"] == "AssertionError: half(3): expected 1.5, got 1"
    assert (
        messages["crash", "ex_half"]
        == "not reached (the run stopped: the kernel died (exit code 1))"
    )
    assert messages["hang", "ex_half"] == "not reached (stopped after the 25 s timeout)"
    record = json.loads((out / "ada.json").read_text())
    assert record["points"] == 3 and record["max_points"] == 3 and len(record["scores"]) == 2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("not json"), "is not a Jupyter notebook"),
        (
            lambda p: nbformat.write(new_notebook(cells=[new_code_cell("1")]), str(p)),
            "is not one of the pack's notebooks",
        ),
    ],
)
def test_grade_refuses_what_is_not_a_pack_notebook_before_running(pack, tmp_path, make, message):
    bad = tmp_path / "bad.ipynb"
    make(bad)
    good = submission(pack, tmp_path, "ada")
    result = labs(pack, "grade", str(good), str(bad), "--out", str(tmp_path / "grades"))
    assert result.returncode == 2 and message in result.stderr and str(bad) in result.stderr
    assert not (tmp_path / "grades").exists()


def test_grade_refuses_a_tampered_test_cell(pack, tmp_path):
    tampered = submission(pack, tmp_path, "mallory", ("assert half(3) == 1.5", "assert True or 0"))
    result = labs(pack, "grade", str(tampered), "--out", str(tmp_path / "grades"))
    assert result.returncode == 2
    assert "test cell test_ex_half differs from zz_exercises's (tampered)" in result.stderr
    assert not (tmp_path / "grades").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--profile", "full"], "--profile must be smoke or quick"),
        (["--jobs", "0"], "--jobs must be a positive int"),
        (["--timeout", "0"], "--timeout must be a number of seconds > 0"),
    ],
)
def test_grade_refuses_bad_options(pack, tmp_path, args, message):
    result = labs(pack, "grade", str(submission(pack, tmp_path, "ada")), *args)
    assert result.returncode == 2 and message in result.stderr


def test_a_stop_signal_stops_every_grading_process_and_writes_nothing(pack, tmp_path):
    """SIGTERM to `labs grade` while two submissions hang: exit 143 within seconds, every grading
    process and kernel gone (by process id), no grades written."""
    hang = ("middle = 1", "import time; time.sleep(600)")
    subs = [str(submission(pack, tmp_path, name, hang)) for name in ("hang1", "hang2")]
    out = tmp_path / "grades"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labs_tools.cli", "--notebooks-dir", str(pack), "grade", *subs,
         "--out", str(out), "--jobs", "2", "--timeout", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def kernels():
            below = psutil.Process(proc.pid).children(recursive=True)
            return [p for p in below if "ipykernel" in " ".join(p.cmdline())]

        deadline = time.monotonic() + 120
        while len(kernels()) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(1.0)  # the kernels reach the sleeping cell
        pids = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            processes.kill_tree(proc)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "labs grade: stopped by SIGTERM; no grades written" in err
    assert seconds < 20 and len(pids) >= 4  # two grading processes, two kernels
    time.sleep(0.5)
    assert not [pid for pid in pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
    assert not out.exists()


NBGRADER_CONFIG = """c = get_config()
c.CourseDirectory.course_id = "dl-labs"
c.CourseDirectory.root = {root!r}
c.Execute.timeout = 600
"""


@pytest.mark.notebook
@pytest.mark.skipif(not HAVE_TF, reason="notebook 04 needs TensorFlow")
def test_nbgrader_and_labs_grade_agree_on_a_real_course(tmp_path):
    """A course directory with 04 (on smoke values) as assignment ps1: nbgrader's own
    generate_assignment and autograde (sqlite gradebook) score a solved and a released submission
    as labs grade does: full marks and zero."""
    name, root = "04_lowlevel_softmax", tmp_path / "course"
    source = root / "source" / "ps1" / f"{name}.ipynb"
    source.parent.mkdir(parents=True)
    smoke = {**runner.load_profile("smoke")[name], "profile": "smoke"}
    solution = nbformat.read(str(runner.discover()[name]), as_version=4)
    nbformat.write(course.parameterized(solution, smoke), str(source))
    (root / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(root=str(root)))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    nbgrader = [sys.executable, "-m", "nbgrader"]
    done = subprocess.run(
        [*nbgrader, "generate_assignment", "ps1"], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    released = labs_release(tmp_path, name)  # labs exercises gives what nbgrader released
    assert graded_sources(released) == graded_sources(root / "release" / "ps1" / f"{name}.ipynb")
    for student, path in (("ada", source), ("stella", released)):
        target = root / "submitted" / student / "ps1" / f"{name}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_bytes(path.read_bytes())
    done = subprocess.run(
        [*nbgrader, "autograde", "ps1", "--create"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        theirs = {
            (student, g.name.removeprefix("test_")): g.score
            for student in ("ada", "stella")
            for g in gb.find_submission_notebook(name, "ps1", student).grades
        }
    subs = [root / "submitted" / s / "ps1" / f"{name}.ipynb" for s in ("ada", "stella")]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "labs_tools.cli",
            "grade",
            *map(str, subs),
            "--out",
            str(tmp_path / "grades"),
            "--jobs",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rows = csv.DictReader((tmp_path / "grades" / "grades.csv").open())
    ours = {(r["student"], r["exercise"]): float(r["points"]) for r in rows}
    assert ours == theirs
    assert ours == {
        ("ada", "ex04_stable_softmax"): 1,
        ("ada", "ex04_softmax_gradient"): 2,
        ("stella", "ex04_stable_softmax"): 0,
        ("stella", "ex04_softmax_gradient"): 0,
    }


def labs_release(tmp_path, name):
    out = tmp_path / "release"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "labs_tools.cli",
            "exercises",
            name,
            "--profile",
            "smoke",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return out / f"{name}.ipynb"


def graded_sources(path):
    """{grade_id: source} of the solution and test cells of a notebook."""
    nb = nbformat.read(str(path), as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if "nbgrader" in c.metadata
    }
