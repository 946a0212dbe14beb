"""The notebooks' exercises: nbgrader metadata, the solutions pass their test cells, the stubs and
plausible wrong answers fail them with a message that names the problem. No kernel: the solution
and test cells run here, in a namespace with the notebook's imports."""

import ast
import importlib.util

import nbformat
import numpy as np
import pytest

from labs_lib import diagnostics, exercises, models, regularization
from labs_tools import runner

NOTEBOOKS = runner.discover()
HAVE_TF = importlib.util.find_spec("tensorflow") is not None

# grade_id -> (a wrong answer as one (old, new) edit of the solution, words its message must hold)
WRONG = {
    "ex01_l1_penalty": (("np.abs(w).sum()", "w.sum()"), "take the absolute value"),
    "ex01_l2_penalty": (("return strength *", "return 0.5 * strength *"), "no factor 1/2"),
    "ex02_glorot_std": (
        ("np.sqrt(2.0 / (fan_in + fan_out))", "2.0 / (fan_in + fan_out)"),
        "that is the variance",
    ),
    "ex02_he_std": (("np.sqrt(2.0 / fan_in)", "np.sqrt(1.0 / fan_in)"), "LeCun's 1 / fan_in"),
    "ex03_relative_error": (
        ("/ scale) if scale else 0.0", ") if scale else 0.0"),
        "that is the absolute error",
    ),
    "ex03_backward": (
        ("(p - np.eye(logits.shape[1])[y])", "(np.eye(logits.shape[1])[y] - p)"),
        "the sign is flipped",
    ),
    "ex04_stable_softmax": (("z - z.max(axis=-1, keepdims=True)", "z"), "overflowed"),
    "ex04_softmax_gradient": (("x.T @ delta / len(x)", "x.T @ delta"), "missing the 1/N"),
    "ex05_batch_norm": (("x.var(axis=0)", "x.var(axis=0, ddof=1)"), "biased batch variance"),
    "ex06_parameter_count": (("a * b + b", "a * b"), "count the biases too"),
    "ex07_minimal_ratio": (("> tol", "< tol"), "share of negative eigenvalues"),
    "ex08_interpolate": (
        (
            "(1 - alpha) * np.asarray(a, float) + alpha * np.asarray(b, float)",
            "alpha * np.asarray(a, float) + (1 - alpha) * np.asarray(b, float)",
        ),
        "alpha weights b",
    ),
    "ex08_jacobian_norm": (
        ("np.sqrt((j**2).sum(axis=(1, 2)))", "(j**2).sum(axis=(1, 2))"),
        "take the square root",
    ),
}


def exercise_cells():
    """{grade_id: (notebook, solution source, test source, points)} over the pack."""
    found = {}
    for name, path in NOTEBOOKS.items():
        cells = nbformat.read(str(path), as_version=4).cells
        solutions = {
            c.metadata["nbgrader"]["grade_id"]: c.source
            for c in cells
            if c.metadata.get("nbgrader", {}).get("solution")
        }
        for c in cells:
            meta = c.metadata.get("nbgrader", {})
            if meta.get("grade"):
                grade_id = meta["grade_id"].removeprefix("test_")
                found[grade_id] = (name, solutions[grade_id], c.source, meta["points"])
    return found


EXERCISES = exercise_cells()


def namespace(notebook):
    """The names a notebook's set-up cell imports that the exercise cells use."""
    names = dict(np=np, diagnostics=diagnostics, models=models, regularization=regularization)
    names["exercises"] = exercises  # imported by the first exercise cell of each notebook
    if notebook == "04_lowlevel_softmax":
        import tensorflow as tf

        from labs_lib import lowlevel

        names.update(tf=tf, lowlevel=lowlevel)
    return names


def run(grade_id, solution=None):
    notebook, source, test, _ = EXERCISES[grade_id]
    if notebook == "04_lowlevel_softmax" and not HAVE_TF:
        pytest.skip("notebook 04 needs TensorFlow")
    names = namespace(notebook)
    for other_id, (other_nb, other_source, _, _) in EXERCISES.items():
        if other_nb == notebook and other_id != grade_id:
            exec(other_source, names)  # an exercise's test may use an earlier one's function
    exec(solution if solution is not None else source, names)
    exec(test, names)


def test_the_pack_has_at_least_12_exercises_one_per_notebook_with_nbgrader_metadata():
    assert len(EXERCISES) >= 12
    assert {nb for nb, *_ in EXERCISES.values()} == set(NOTEBOOKS)
    assert set(WRONG) == set(EXERCISES), "every exercise needs a plausible wrong answer here"
    for grade_id, (_, source, _, points) in EXERCISES.items():
        assert "### BEGIN SOLUTION" in source and "### END SOLUTION" in source, grade_id
        assert isinstance(points, (int, float)) and points > 0


def defined_names(source):
    """The functions a cell defines."""
    return [node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]


def called_names(source):
    """Every name a cell calls or passes on (f(...) or g(..., f))."""
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}


@pytest.mark.parametrize("grade_id", sorted(EXERCISES))
def test_the_experiment_calls_the_students_function(grade_id):
    notebook, solution, _, _ = EXERCISES[grade_id]
    cells = nbformat.read(str(NOTEBOOKS[notebook]), as_version=4).cells
    experiment = [  # code cells that are neither an exercise nor its test
        c.source for c in cells if c.cell_type == "code" and "nbgrader" not in c.metadata
    ]
    for name in defined_names(solution):
        users = [source for source in experiment if name in called_names(source)]
        assert users, f"{notebook}: no experiment cell uses the student's {name}"


@pytest.mark.parametrize("grade_id", sorted(EXERCISES))
def test_the_solution_passes_its_test_cell(grade_id):
    run(grade_id)


@pytest.mark.parametrize("grade_id", sorted(EXERCISES))
def test_the_student_stub_fails_its_test_cell(grade_id):
    _, source, _, _ = EXERCISES[grade_id]
    head = source.split("### BEGIN SOLUTION")[0]
    tail = source.split("### END SOLUTION")[1]
    stub = head + "# YOUR CODE HERE\n    raise NotImplementedError()" + tail
    with pytest.raises(NotImplementedError):
        run(grade_id, stub)


@pytest.mark.parametrize("grade_id", sorted(WRONG))
def test_a_plausible_wrong_answer_fails_with_a_message_naming_the_problem(grade_id):
    (old, new), words = WRONG[grade_id]
    _, source, _, _ = EXERCISES[grade_id]
    assert old in source, f"{grade_id}: the wrong answer no longer applies to the solution"
    with pytest.raises(AssertionError, match=words) as err:
        run(grade_id, source.replace(old, new))
    assert "Expected" in str(err.value) or "expected" in str(err.value)


def test_check_close_names_the_call_the_expected_value_the_answer_and_a_hint():
    with pytest.raises(AssertionError) as err:
        exercises.check_close("f(2)", 5.0, 4.0, hint="square it")
    assert str(err.value) == "f(2): expected 4, got 5. square it"
    with pytest.raises(AssertionError, match="f\\(2\\) returned None: return the value"):
        exercises.check_close("f(2)", None, 4.0, hint="")
    with pytest.raises(AssertionError, match="expected shape \\(2,\\), got \\(3,\\)"):
        exercises.check_close("f(x)", np.zeros(3), np.zeros(2), hint="")
    with pytest.raises(AssertionError, match="f\\(2\\): the sign is flipped. Expected 4, got -4."):
        exercises.check_close("f(2)", -4.0, 4.0, hint="", mistakes={"the sign is flipped": -4.0})
    exercises.check_close("f(2)", 4.0 + 1e-9, 4.0, hint="")


# ---------------------------------------------------------------- labs exercises


def labs(*args):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "labs_tools.cli", *args], capture_output=True, text=True
    )


def test_labs_exercises_writes_student_versions_with_nbgrader_and_an_index(tmp_path):
    result = labs("exercises", "--out", str(tmp_path / "release"))
    assert result.returncode == 0, result.stderr
    assert f"{len(EXERCISES)} exercises" in result.stdout
    release = tmp_path / "release"
    index = (release / "exercises.md").read_text()
    for grade_id, (name, solution, test, points) in EXERCISES.items():
        student = nbformat.read(str(release / f"{name}.ipynb"), as_version=4)
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in student.cells}
        stub = cells[grade_id].source
        assert "BEGIN SOLUTION" not in stub and "raise NotImplementedError()" in stub
        assert stub.splitlines()[0] == solution.splitlines()[0]  # the signature stays
        locked = cells[f"test_{grade_id}"]
        assert locked.source == test and locked.metadata["nbgrader"]["locked"]
        assert locked.metadata["nbgrader"]["checksum"]  # nbgrader sees a tampered test
        assert all(not c.get("outputs") for c in student.cells)
    for name in NOTEBOOKS:
        assert f"| {name} |" in index
    assert f"{sum(p for *_, p in EXERCISES.values()):g} points in all" in index


@pytest.mark.parametrize(
    "args, message",
    [
        (["09"], "notebook '09' is not a notebook of the pack"),
        (["--profile", "fast"], "--profile must be one of smoke, quick, full, got 'fast'"),
        ([], "--out must be a folder"),
    ],
)
def test_labs_exercises_refuses_bad_arguments_before_writing(tmp_path, args, message):
    target = tmp_path / ("release" if args else "a_file")
    if not args:
        target.write_text("")
    result = labs("exercises", *args, "--out", str(target))
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "release").exists()


def test_labs_exercises_sets_the_release_to_a_profiles_values(tmp_path):
    result = labs("exercises", "02", "--profile", "smoke", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    nb = nbformat.read(str(tmp_path / "02_initialization.ipynb"), as_version=4)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert 'profile = "smoke"' in injected.source and 'dataset = "synthetic"' in injected.source
