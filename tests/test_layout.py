"""The project's shape: labs_lib never imports the tooling, notebooks set up in one call and reach
through no module's imports, code is formatted and linted at 100 columns, and functions stay
short."""

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import labs_lib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"labs_lib": ROOT / "labs_lib", "labs_tools": ROOT / "labs_tools"}
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_FUNCTION_LINES = 40


def imported_names(path):
    """Every module name an `import` or `from ... import` statement in `path` names."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_labs_lib_source_imports_nothing_from_labs_tools():
    offenders = {
        str(path.relative_to(ROOT)): name
        for path in PACKAGES["labs_lib"].rglob("*.py")
        for name in imported_names(path)
        if name.split(".")[0] == "labs_tools"
    }
    assert offenders == {}


def test_importing_every_labs_lib_module_loads_no_tooling():
    code = (
        "import importlib, pkgutil, sys, labs_lib\n"
        "for m in pkgutil.walk_packages(labs_lib.__path__, 'labs_lib.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'labs_tools'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_tooling_is_not_inside_the_students_package():
    assert not (PACKAGES["labs_lib"] / "cli.py").exists()
    modules = {m.name for m in pkgutil.iter_modules([str(PACKAGES["labs_tools"])])}
    assert {"cli", "runner", "worker", "pdf", "gallery"} <= modules
    assert (PACKAGES["labs_tools"] / "templates" / "labs_report" / "index.tex.j2").is_file()


@pytest.mark.parametrize("what", ["check", "format --check"])
def test_ruff_finds_nothing_to_change(what):
    targets = ["labs_lib", "labs_tools", "tests", "benchmarks", "notebooks", "tasks.py"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *what.split(), *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"ruff {what}:\n{result.stdout[-3000:]}{result.stderr[-1000:]}"


def long_functions(folder):
    """(lines, 'path:line name') of every function in `folder` longer than MAX_FUNCTION_LINES."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append((lines, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"))
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_function_is_longer_than_40_lines(package):
    assert long_functions(PACKAGES[package]) == []


def code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_sets_up_in_one_call(path):
    code = "\n".join(code_cells(path))
    assert code.count(f'reporting.Report.start("{path.stem}", globals())') == 1
    for copied in ("params.bind", "set_theme", "tensorboard_logs", "Report(", "tensorboard_note"):
        assert copied not in code, f"{path.name} repeats the set-up line {copied!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_reaches_through_no_modules_imports(path):
    """`models.keras...` or `plots.plt...` use a module that labs_lib imported: import it
    directly."""
    reached = []
    for source in code_cells(path):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                module = getattr(labs_lib, node.value.id, None) or _labs_module(node.value.id)
                if module is not None and isinstance(
                    getattr(module, node.attr, None), types.ModuleType
                ):
                    reached.append(f"{node.value.id}.{node.attr}")
    assert reached == []


def _labs_module(name):
    """labs_lib.<name> if it is one of the package's modules, else None."""
    if name not in {m.name for m in pkgutil.iter_modules(labs_lib.__path__)}:
        return None
    return importlib.import_module(f"labs_lib.{name}")
