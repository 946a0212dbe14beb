"""Shared test set-up: real data from ../shared/data when it exists, TensorFlow backend by default,
and the tiny generated notebooks of the runner and PDF tests (fixture `nbmaker`)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labs_tools import runner

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

if "LABS_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["LABS_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def real_data_dir():
    """The data directory holding the real datasets, or None (tests that need it skip)."""
    path = os.environ.get("LABS_DATA_DIR")
    return Path(path) if path and Path(path).is_dir() else None


@pytest.fixture
def real_data():
    path = real_data_dir()
    if path is None:
        pytest.skip(
            "real datasets not available: set LABS_DATA_DIR to a folder laid out like shared/data"
        )
    return path


# ---------------------------------------------------------------- generated notebooks

PARAMETERS = """profile: str = "full"  # profile label; in {smoke, quick, full, custom}
n: int = 3  # points to plot; in [1, 100]
fail: bool = False  # raise an error in the last cell
sleep: float = 0.0  # seconds to sleep before finishing; in [0, 600]
out_dir: str = ""  # output folder ("" = reports/<name>)"""

BODY = """import time
import matplotlib.pyplot as plt
import pandas as pd
from labs_lib.reporting import Report
report = Report("{name}", dict(profile=profile, n=n, fail=fail, sleep=sleep), out_dir)
fig, ax = plt.subplots()
ax.plot(range(n))
report.figure(fig, "line", caption="a line")
report.table("points", pd.DataFrame({{"x": range(n)}}))"""

FINISH = """time.sleep(sleep)
if fail:
    raise RuntimeError("deliberate failure in {name}")
report.save()"""


def make_notebook(folder, name, requires=()):
    """Write folder/<name>.ipynb: a parameters cell, a figure, a table, metrics.json.

    requires: the notebook's labs.requires metadata (backend names)."""
    param_cell = new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})
    nb = new_notebook(
        cells=[
            new_markdown_cell(f"# Test notebook {name}"),
            param_cell,
            new_code_cell(BODY.format(name=name)),
            new_code_cell(FINISH.format(name=name)),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if requires:
        nb.metadata["labs"] = {"requires": list(requires)}
    path = Path(folder) / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def make_pack(folder, names=("aa_ok", "bb_ok"), profiles=None):
    """A notebooks folder with the given notebooks and profiles/<profile>.yaml files."""
    folder = Path(folder)
    (folder / "profiles").mkdir(parents=True, exist_ok=True)
    for name in names:
        make_notebook(folder, name)
    for profile, text in (profiles or {"smoke": "", "quick": "", "full": ""}).items():
        (folder / "profiles" / f"{profile}.yaml").write_text(text)
    return folder


class NotebookMaker:
    """Small notebooks built on the fly for runner and PDF tests (no Keras: they start fast)."""

    PARAMETERS = PARAMETERS
    notebook = staticmethod(make_notebook)
    pack = staticmethod(make_pack)


@pytest.fixture(scope="session")
def nbmaker():
    """NotebookMaker: .notebook(folder, name, requires) and .pack(folder, names, profiles) write
    notebooks."""
    return NotebookMaker()


# ---------------------------------------------------------------- every notebook on smoke, once

HAVE_JAX = importlib.util.find_spec("jax") is not None
BACKENDS = [
    "tensorflow",
    pytest.param(
        "jax",
        marks=pytest.mark.skipif(
            not HAVE_JAX, reason="jax is not installed (pip install -e '.[jax]')"
        ),
    ),
]


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """Every notebook on smoke, one `labs run` per backend, the two started together (each is mostly
    one busy process; CI has two cores). {backend: (out folder, CompletedProcess)}."""
    started = {}
    for backend in ["tensorflow"] + (["jax"] if HAVE_JAX else []):
        out = tmp_path_factory.mktemp(f"smoke-{backend}")
        log = open(out.parent / f"smoke-{backend}.log", "w+")
        cmd = [
            sys.executable,
            "-m",
            "labs_tools.cli",
            "run",
            *runner.discover(),
            "--profile",
            "smoke",
            "--backend",
            backend,
            "--out",
            str(out),
        ]
        started[backend] = (
            out,
            cmd,
            log,
            subprocess.Popen(cmd, cwd=out, stdout=log, stderr=subprocess.STDOUT, text=True),
        )
    runs = {}
    for backend, (out, cmd, log, proc) in started.items():
        proc.wait()
        log.seek(0)
        runs[backend] = (out, subprocess.CompletedProcess(cmd, proc.returncode, log.read(), ""))
        log.close()
    return runs


@pytest.fixture(scope="session", params=BACKENDS)
def smoke_run(request, smoke_runs):
    out, result = smoke_runs[request.param]
    return request.param, out, result
