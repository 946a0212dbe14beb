"""For courses: the exercises of the pack's notebooks (nbgrader's conventions) and the student
versions `labs exercises` writes with nbgrader's own preprocessors.

An exercise is a solution cell (nbgrader metadata `solution: true`, its answer between
`### BEGIN SOLUTION` and `### END SOLUTION`) followed by a test cell (`grade: true`, `points`,
locked): the test cell earns its points when it runs without an error, as in `nbgrader autograde`.
"""

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from labs_lib.shared.files import atomic_write, to_json
from labs_tools import runner

INDEX_MD, INDEX_JSON = "exercises.md", "exercises.json"


@dataclass
class Exercise:
    """One exercise: its notebook, nbgrader ids, points and the title of its Markdown cell."""

    notebook: str
    grade_id: str
    test_id: str
    points: float
    title: str


def exercises(name, nb):
    """The exercises of notebook `name` (a NotebookNode), in order."""
    found, title, solutions = [], "", set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and cell.source.startswith("### "):
            title = cell.source.splitlines()[0].removeprefix("### ").strip()
        if meta.get("solution"):
            solutions.add(meta["grade_id"])
        if meta.get("grade"):
            solved = meta["grade_id"].removeprefix("test_")
            found.append(
                Exercise(
                    name,
                    solved if solved in solutions else "",
                    meta["grade_id"],
                    float(meta.get("points", 0)),
                    title,
                )
            )
    return found


def student_version(nb):
    """A copy of a solution notebook as students get it: each solution replaced by nbgrader's
    stub, hidden tests removed, outputs cleared, test cells locked, checksums recorded."""
    from nbgrader.preprocessors import (
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    nb, resources = copy.deepcopy(nb), {}
    for step in (
        ClearSolutions(),
        ClearHiddenTests(),
        ClearMarkScheme(),
        ClearOutput(),
        LockCells(),
        ComputeChecksums(),
    ):
        nb, resources = step.preprocess(nb, resources)
    return nb


def parameterized(nb, parameters):
    """A copy of `nb` with `parameters` injected after its parameters cell, as papermill does."""
    from papermill.parameterize import parameterize_notebook

    nb = copy.deepcopy(nb)
    nb.metadata.setdefault("papermill", {})  # papermill reads its metadata and every cell's tags
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    return parameterize_notebook(nb, parameters)


def write_student_versions(names, out, notebooks_dir, profile=None):
    """Write each named notebook's student version to `out` (its parameters set to `profile`'s
    values, if given), and the index of its exercises (exercises.md, exercises.json); returns the
    exercises. Checks every input before writing."""
    available = runner.discover(notebooks_dir)
    chosen = runner.resolve_names(names, available) if names else list(available)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise runner.UsageError(f"--out must be a folder, got the file {out}")
    solutions = {name: nbformat.read(str(available[name]), as_version=4) for name in chosen}
    if profile:
        values = runner.load_profile(profile, notebooks_dir)
        solutions = {
            name: parameterized(nb, {**values.get(name, {}), "profile": profile})
            for name, nb in solutions.items()
        }
    found = [e for name, nb in solutions.items() for e in exercises(name, nb)]
    if not found:
        raise runner.UsageError(f"no exercises in {', '.join(chosen)}")
    for name, nb in solutions.items():
        atomic_write(out / f"{name}.ipynb", nbformat.writes(student_version(nb)))
    atomic_write(out / INDEX_JSON, to_json([asdict(e) for e in found]))
    atomic_write(out / INDEX_MD, index_markdown(found))
    return found


def index_markdown(found):
    """The exercises as a Markdown table: notebook, exercise, points, and the total."""
    lines = [
        "# Exercises",
        "",
        "Fill in each `# YOUR CODE HERE` cell; the locked cell below it checks your answer "
        "(run it: no error means full points).",
        "",
        "| notebook | exercise | points |",
        "|---|---|---|",
    ]
    lines += [f"| {e.notebook} | {e.title} | {e.points:g} |" for e in found]
    total = sum(e.points for e in found)
    lines += ["", f"{len(found)} exercises, {total:g} points in all.", ""]
    return "\n".join(lines)
