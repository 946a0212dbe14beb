"""The `labs` runner end to end: list, validation before any kernel starts, outputs, failures,
timeouts, interrupts and --resume, on tiny generated notebooks (the `nbmaker` fixture).

Executed runs are shared between tests through module-scoped fixtures: each kernel start costs
seconds.
"""

import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labs_lib.shared.files import current_umask
from labs_tools import cli, runner, worker

notebook = pytest.mark.notebook  # tests that execute notebooks (module-scoped runs)

LABS = [sys.executable, "-m", "labs_tools.cli"]
HAVE_JAX = importlib.util.find_spec("jax") is not None
HANG_TIMEOUT = 20  # --timeout of the hung notebook: long enough for its kernel to reach the sleep
# (12 s was not, once, on a loaded 2-core CI: the partial notebook was never written)
RUN_LIMIT = 240  # a safety net for subprocess calls, far above what a run should take

CHOICES_NOTEBOOK = """profile: str = "full"  # profile label; in {smoke, quick, full, custom}
mode: str = "a"  # how to run; in {a, b}
widths: list[int] = [4, 8]  # layer widths; each in [1, 10]
lr: float = 0.1  # step size; in (0, 1]
out_dir: str = ""  # output folder"""


# ---------------------------------------------------------------- helpers


GALLERY = {"index.html", "README.md"}  # written by every `labs run` beside the notebooks' folders


def run_folders(out):
    """The names in a run's output folder, the gallery's two files aside."""
    names = sorted(p.name for p in Path(out).iterdir())
    assert GALLERY <= set(names), f"no gallery in {out}"
    return [n for n in names if n not in GALLERY]


def labs_env():
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.pop("LABS_REPORTS_DIR", None)
    return env


def labs_cmd(pack, *args):
    return [*LABS, "--notebooks-dir", str(pack), *args]


def run_labs(cwd, pack, *args):
    started = time.monotonic()
    proc = subprocess.run(
        labs_cmd(pack, *args),
        cwd=cwd,
        env=labs_env(),
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT,
    )
    return SimpleNamespace(
        rc=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        seconds=time.monotonic() - started,
    )


def start_labs(cwd, pack, *args):
    proc = subprocess.Popen(
        labs_cmd(pack, *args),
        cwd=cwd,
        env=labs_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.started = time.monotonic()
    return proc


def finish(proc):
    stdout, stderr = proc.communicate(timeout=RUN_LIMIT)
    return SimpleNamespace(
        rc=proc.returncode, stdout=stdout, stderr=stderr, seconds=time.monotonic() - proc.started
    )


def shown(result):
    return f"exit {result.rc}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def summary_statuses(stdout):
    """{notebook: status} from the closing summary table."""
    lines = stdout.splitlines()
    header = max(i for i, line in enumerate(lines) if line.split()[:2] == ["notebook", "status"])
    rows = {}
    for line in lines[header + 2 :]:
        parts = line.split()
        if len(parts) >= 4 and parts[2].replace(".", "", 1).isdigit() and parts[3].isdigit():
            rows[parts[0]] = parts[1]
    return rows


def snapshot(folder):
    """{relative path: bytes} of every file under `folder`."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*"))


def read_json(path):
    return json.loads(Path(path).read_text())


def processes_in(root):
    """Processes (papermill, kernels) whose working directory lies under `root`."""
    root = str(root)
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        cwd = proc.info.get("cwd") or ""
        if cwd == root or cwd.startswith(root + os.sep):
            found.append(f"{proc.info['pid']}: {' '.join(proc.info.get('cmdline') or [])}")
    return found


def live_children():
    """Processes still running below this test process."""
    alive = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc.pid}: {' '.join(proc.cmdline())}")
        except psutil.Error:
            pass
    return alive


def wait_for(predicate, seconds, proc=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def write_choices_notebook(folder, name):
    cells = [
        new_markdown_cell(f"# Choices {name}"),
        new_code_cell(CHOICES_NOTEBOOK, metadata={"tags": ["parameters"]}),
        new_code_cell("print(mode, widths, lr)"),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(Path(folder) / f"{name}.ipynb"))


def validation_pack(nbmaker, folder, smoke="alpha:\n  n: 5\n"):
    """alpha and beta from nbmaker, gamma with choices, a list and an open interval. Never
    executed."""
    pack = nbmaker.pack(
        folder, names=("alpha", "beta"), profiles={"smoke": smoke, "quick": "", "full": ""}
    )
    write_choices_notebook(pack, "gamma")
    return pack


def clone(base, root):
    """A copy of the base run's notebooks and outputs (fingerprints hash file contents, not
    paths)."""
    shutil.copytree(base.pack, root / "pack")
    shutil.copytree(base.out, root / "out")
    return root / "pack", root / "out"


# ---------------------------------------------------------------- labs list


def test_list_prints_every_notebook_with_its_parameters(nbmaker, tmp_path):
    pack = validation_pack(nbmaker, tmp_path / "pack")
    result = run_labs(tmp_path, pack, "list")
    assert result.rc == 0, shown(result)
    out = result.stdout
    assert (
        "alpha: Test notebook alpha" in out
        and "beta: Test notebook beta" in out
        and "gamma: Choices gamma" in out
    )
    for line in (
        "  profile: str = 'full'",
        "  n: int = 3",
        "  fail: bool = False",
        "  sleep: float = 0.0",
        "  out_dir: str = ''",
        "points to plot; an int in [1, 100]",
        "raise an error in the last cell; a bool",
        "seconds to sleep before finishing; a float in [0, 600]",
        "  mode: str = 'a'",
        "how to run; one of {a, b}",
        "  widths: list[int] = [4, 8]",
        "layer widths; a non-empty list of int, each in [1, 10]",
        "  lr: float = 0.1",
        "step size; a float in (0, 1]",
    ):
        assert line in out, f"{line!r} missing from labs list:\n{out}"
    assert out.count("  n: int = 3") == 2  # alpha and beta
    assert "profiles: smoke=5" in out  # alpha's smoke value
    assert out.index("alpha:") < out.index("beta:") < out.index("gamma:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]  # listing writes nothing


# -------------------------------------------------------------- validation before any kernel starts

BAD_COMMAND_LINES = {
    "unknown notebook": (["zeta"], ["'zeta'", "not a notebook", "alpha, beta, gamma"]),
    "unknown parameter": (["-p", "bogus=1"], ["'bogus'", "allowed:", "fail", "mode", "n"]),
    "wrong type": (["alpha", "-p", "n=abc"], ["n must be an int in [1, 100]", "got 'abc'"]),
    "wrong type for bool": (["alpha", "-p", "fail=maybe"], ["fail must be a bool", "got 'maybe'"]),
    "out of range": (["alpha", "-p", "n=1000"], ["n must be an int in [1, 100]", "got 1000"]),
    "below a float range": (
        ["alpha", "-p", "sleep=-1"],
        ["sleep must be a float in [0, 600]", "got -1.0"],
    ),
    "outside an open interval": (
        ["gamma", "-p", "lr=0"],
        ["lr must be a float in (0, 1]", "got 0.0"],
    ),
    "unknown choice": (["gamma", "-p", "mode=c"], ["mode must be one of {a, b}", "got 'c'"]),
    "list element out of range": (
        ["gamma", "-p", "widths=4,11"],
        ["widths", "each in [1, 10]", "[4, 11]"],
    ),
    "unknown profile": (
        ["--profile", "huge"],
        ["profile must be one of {smoke, quick, full}", "got 'huge'"],
    ),
    "unknown backend": (
        ["--backend", "torch"],
        ["backend must be one of {tensorflow, jax}", "got 'torch'"],
    ),
    "zero jobs": (["--jobs", "0"], ["--jobs must be a positive int", "got 0"]),
    "negative jobs": (["--jobs", "-2"], ["--jobs must be a positive int", "got -2"]),
    "negative timeout": (["--timeout", "-5"], ["--timeout", "-5"]),
    "out_dir set with -p": (["-p", "out_dir=elsewhere"], ["out_dir is set by the runner", "--out"]),
    "profile set with -p": (["-p", "profile=full"], ["profile is set by the runner", "--profile"]),
    "-p without =": (["-p", "n"], ["NAME=VALUE", "got 'n'"]),
}


@pytest.fixture(scope="module")
def vpack(nbmaker, tmp_path_factory):
    return validation_pack(nbmaker, tmp_path_factory.mktemp("validation") / "pack")


@pytest.mark.parametrize("case", list(BAD_COMMAND_LINES))
def test_bad_command_line_exits_2_names_the_value_and_writes_nothing(case, vpack, tmp_path, capsys):
    args, pieces = BAD_COMMAND_LINES[case]
    pack_before = snapshot(vpack)
    out = tmp_path / "out"
    profile = [] if "--profile" in args else ["--profile", "smoke"]
    rc = cli.main(["--notebooks-dir", str(vpack), "run", *args, *profile, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("labs: error: ") and err.count("\n") == 1
    for piece in pieces:
        assert piece in err, f"{piece!r} not in {err!r}"
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    assert snapshot(vpack) == pack_before


@pytest.mark.parametrize("args", [["--jobs", "two"], ["--timeout", "soon"]])
def test_non_numeric_jobs_or_timeout_is_a_usage_error(args, vpack, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--notebooks-dir", str(vpack), "run", *args, "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    assert args[1] in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


BAD_PROFILES = {
    "value out of range": ("alpha:\n  n: 1000\n", ["n must be an int in [1, 100]", "got 1000"]),
    "value of the wrong type": ("alpha:\n  n: three\n", ["n must be an int", "got 'three'"]),
    "float where an int is expected": ("beta:\n  n: 2.5\n", ["n must be an int", "got 2.5"]),
    "unknown choice": ("gamma:\n  mode: c\n", ["mode must be one of {a, b}", "got 'c'"]),
    "bad list element": ("gamma:\n  widths: [1, 0]\n", ["widths", "each in [1, 10]", "[1, 0]"]),
    "unknown parameter": (
        "alpha:\n  bogus: 1\n",
        ["profile 'smoke'", "alpha", "unknown parameter 'bogus'", "allowed:"],
    ),
    "unknown notebook": ("zeta:\n  n: 3\n", ["profile 'smoke'", "'zeta'"]),
    "not a mapping": ("- alpha\n- beta\n", ["smoke.yaml", "must map notebook names"]),
}
MALFORMED_PROFILES = {
    "entry is a number": "alpha: 5\n",
    "entry is a list": "alpha: [1, 2]\n",
    "invalid YAML": "alpha: {n: [\n",
}


@pytest.mark.parametrize("case", list(BAD_PROFILES))
def test_bad_profile_values_exit_2_name_the_value_and_write_nothing(
    nbmaker, case, tmp_path, capsys
):
    text, pieces = BAD_PROFILES[case]
    pack = validation_pack(nbmaker, tmp_path / "pack", smoke=text)
    out = tmp_path / "out"
    rc = cli.main(["--notebooks-dir", str(pack), "run", "--profile", "smoke", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("labs: error: ")
    for piece in pieces:
        assert piece in err, f"{piece!r} not in {err!r}"
    assert not out.exists()


@pytest.mark.parametrize("case", list(MALFORMED_PROFILES))
def test_malformed_profile_file_is_a_usage_error(nbmaker, case, tmp_path, capsys):
    pack = validation_pack(nbmaker, tmp_path / "pack", smoke=MALFORMED_PROFILES[case])
    out = tmp_path / "out"
    rc = cli.main(["--notebooks-dir", str(pack), "run", "--profile", "smoke", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "smoke.yaml" in err
    assert not out.exists()


def test_command_line_values_override_profile_values(vpack):
    (job,) = runner.plan(["alpha"], "smoke", [], vpack)
    assert job.params == {"n": 5, "profile": "smoke"}
    (job,) = runner.plan(["alpha"], "smoke", ["n=7", "fail=yes"], vpack)
    assert job.params == {"n": 7, "fail": True, "profile": "smoke"}


def test_notebooks_are_named_by_unique_prefix_and_an_ambiguous_prefix_is_refused(
    nbmaker, tmp_path, capsys
):
    pack = nbmaker.pack(tmp_path / "pack", names=("01_intro", "02_init", "02_optim"))
    jobs = runner.plan(["01", "02_o", "02_init.ipynb"], "smoke", (), pack)
    assert [job.name for job in jobs] == ["01_intro", "02_optim", "02_init"]
    rc = cli.main(
        [
            "--notebooks-dir",
            str(pack),
            "run",
            "02",
            "--profile",
            "smoke",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "'02' is ambiguous" in err and "01_intro, 02_init, 02_optim" in err
    assert not (tmp_path / "out").exists()


def test_labs_process_exits_2_on_a_bad_value_before_any_kernel_starts(vpack, tmp_path):
    result = run_labs(
        tmp_path, vpack, "run", "alpha", "--profile", "smoke", "-p", "n=0", "--out", "out"
    )
    assert result.rc == 2, shown(result)
    assert result.stderr == "labs: error: n must be an int in [1, 100], got 0\n"
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []
    assert processes_in(tmp_path) == []


# ---------------------------------------------------------------- a successful run


@pytest.fixture(scope="module")
def base(nbmaker, tmp_path_factory):
    """alpha (n=5 from the smoke profile) and beta, run with --jobs 2 into out/."""
    root = tmp_path_factory.mktemp("base").resolve()
    pack = nbmaker.pack(
        root / "pack",
        names=("alpha", "beta"),
        profiles={"smoke": "alpha:\n  n: 5\n", "quick": "", "full": ""},
    )
    lib = runner.library_hash()
    result = run_labs(root, pack, "run", "--profile", "smoke", "--jobs", "2", "--out", "out")
    return SimpleNamespace(root=root, pack=pack, out=root / "out", result=result, lib=lib)


@notebook
def test_run_exits_0_when_every_notebook_succeeds(base):
    assert base.result.rc == 0, shown(base.result)
    assert "labs: error" not in base.result.stderr


@notebook
def test_run_writes_executed_notebook_figures_metrics_and_run_json_per_notebook(base):
    for name in ("alpha", "beta"):
        folder = base.out / name
        files = set(tree(folder))
        assert {
            f"{name}.ipynb",
            "metrics.json",
            "run.json",
            "figures/line.png",
            "figures/line.pdf",
        } <= files
        assert (folder / "figures" / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (folder / "figures" / "line.pdf").read_bytes()[:5] == b"%PDF-"
        executed = nbformat.read(str(folder / f"{name}.ipynb"), as_version=4)
        code = [c for c in executed.cells if c.cell_type == "code"]
        assert all(c.metadata.papermill.status == "completed" for c in code)
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in code)
        assert not any(o.output_type == "error" for c in code for o in c.outputs)
        metrics = read_json(folder / "metrics.json")
        assert metrics["notebook"] == name and metrics["figures"][0]["files"] == [
            "figures/line.png",
            "figures/line.pdf",
        ]
    assert run_folders(base.out) == ["alpha", "beta"]  # no .staging-*, .old-*, .failed


@notebook
def test_run_json_records_status_fingerprint_and_outputs(base):
    for name in ("alpha", "beta"):
        record = read_json(base.out / name / "run.json")
        assert record["status"] == "ok" and record["message"] == ""
        assert record["profile"] == "smoke" and record["backend"] == "tensorflow"
        assert re.fullmatch(r"[0-9a-f]{64}", record["fingerprint"]), record["fingerprint"]
        assert sorted(record["outputs"]) == sorted(
            [f"{name}.ipynb", "metrics.json", "figures/line.png", "figures/line.pdf"]
        )
        for output in record["outputs"]:
            assert (base.out / name / output).is_file()
    (job,) = runner.plan(["alpha"], "smoke", (), base.pack)
    with (
        pytest.MonkeyPatch.context() as mp
    ):  # labs_lib as it was at the run, whatever was edited since
        mp.setattr(runner, "library_hash", lambda: base.lib)
        assert read_json(base.out / "alpha" / "run.json")["fingerprint"] == runner.fingerprint(
            job, "tensorflow"
        )


@notebook
def test_outputs_are_written_with_the_users_umask(base):
    """Readable by the group and others under the default umask (0644), as a plain `open` would
    make them."""
    wanted = 0o666 & ~current_umask()
    files = [p for p in base.out.rglob("*") if p.is_file()]
    assert files and {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {
        p.name: oct(wanted) for p in files
    }


def test_the_fingerprint_hashes_labs_lib_but_not_the_tooling(tmp_path, monkeypatch):
    lib = tmp_path / "labs_lib"
    (lib / "shared").mkdir(parents=True)
    (lib / "training.py").write_text("x = 1\n")
    (lib / "shared" / "params.py").write_text("y = 1\n")
    monkeypatch.setattr(runner, "PACKAGE_DIR", lib)
    before = runner.library_hash()
    (tmp_path / "labs_tools").mkdir()
    (tmp_path / "labs_tools" / "pdf.py").write_text("z = 2\n")  # the tooling, beside the package
    assert runner.library_hash() == before
    (lib / "shared" / "params.py").write_text("y = 2\n")
    assert runner.library_hash() != before
    tools = Path(runner.__file__).parent
    assert not tools.is_relative_to(runner.PACKAGE_DIR) and not runner.PACKAGE_DIR.is_relative_to(
        tools
    )


def test_the_fingerprint_changes_when_a_data_file_is_added_or_replaced(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    (folder / "mnist").mkdir(parents=True)
    (folder / "mnist" / "a.gz").write_bytes(b"1234")
    monkeypatch.setenv("LABS_DATA_DIR", str(folder))
    before = runner.data_hash()
    assert runner.data_hash() == before
    (folder / "mnist" / "b.gz").write_bytes(b"5")
    added = runner.data_hash()
    (folder / "mnist" / "a.gz").write_bytes(b"12345")
    assert len({before, added, runner.data_hash()}) == 3


@notebook
def test_profile_values_and_name_reach_the_notebook(base):
    alpha, beta = (read_json(base.out / name / "metrics.json") for name in ("alpha", "beta"))
    assert alpha["parameters"]["n"] == 5 and len(alpha["tables"]["points"]["rows"]) == 5
    assert beta["parameters"]["n"] == 3 and len(beta["tables"]["points"]["rows"]) == 3
    assert alpha["profile"] == beta["profile"] == "smoke"
    assert read_json(base.out / "alpha" / "run.json")["parameters"] == {"n": 5, "profile": "smoke"}


@notebook
def test_progress_lines_and_summary_table_on_stdout(base):
    out = base.result.stdout
    lines = out.splitlines()
    assert lines[0].startswith(
        "labs run: 2 notebooks, profile smoke, backend tensorflow, output in "
    )
    assert lines[0].endswith(str(base.out))
    done = [line for line in lines if line.startswith("[") and " done] " in line]
    assert any(line.startswith("[1/2 done] ") for line in done) and any(
        line.startswith("[2/2 done] ") for line in done
    )
    for name in ("alpha", "beta"):
        assert any(f"] {name}: ok in " in line for line in done), out
    header = next(line for line in lines if line.startswith("notebook"))
    assert header.split() == ["notebook", "status", "seconds", "figures", "outputs"]
    assert summary_statuses(out) == {"alpha": "ok", "beta": "ok"}
    for name in ("alpha", "beta"):
        row = next(line for line in lines if line.startswith(name + " "))
        assert row.split()[3] == "1" and row.endswith(str(base.out / name))


# ---------------------------------------------------------------- failures, timeouts, interrupts
# Three `labs run` processes at once (each on its own copy of the base outputs where they could
# collide), so that one's sleeping overlaps the others' kernel starts:
#   failing:      alpha raises, then gamma runs (--jobs 1)                    -> root "broken"
#   hanging:      beta sleeps past --timeout                                  -> root "broken"
#   interrupting: alpha sleeps; SIGTERM arrives while it is in its last cell  -> root "interrupted"
#                 (and beta's worker, started ahead, waits for its turn)


@pytest.fixture(scope="module")
def troubles(nbmaker, base, tmp_path_factory):
    broken_root = tmp_path_factory.mktemp("broken").resolve()
    pack, out = clone(base, broken_root)
    nbmaker.notebook(pack, "gamma")
    (pack / "profiles" / "quick.yaml").write_text("alpha:\n  fail: true\n")
    broken = SimpleNamespace(
        root=broken_root,
        pack=pack,
        out=out,
        before={name: snapshot(out / name) for name in ("alpha", "beta")},
    )
    stop_root = tmp_path_factory.mktemp("interrupted").resolve()
    stop_pack, stop_out = clone(base, stop_root)
    interrupted = SimpleNamespace(root=stop_root, out=stop_out, before=snapshot(stop_out))

    def sleeping():
        staged = list(stop_out.glob(".staging-alpha-*/alpha.ipynb"))
        started, total = runner.cell_progress(staged[0]) if staged else (0, 0)
        return total > 0 and started == total

    stopping = start_labs(
        stop_root,
        stop_pack,
        "run",
        "alpha",
        "beta",
        "--profile",
        "smoke",
        "-p",
        "sleep=300",
        "--out",
        "out",
    )  # beta's worker is waiting for its turn when SIGTERM arrives
    failing = start_labs(
        broken_root,
        pack,
        "run",
        "alpha",
        "gamma",
        "--profile",
        "quick",
        "--jobs",
        "1",
        "--out",
        "out",
    )
    hanging = start_labs(
        broken_root,
        pack,
        "run",
        "beta",
        "--profile",
        "quick",
        "-p",
        "sleep=300",
        "--timeout",
        str(HANG_TIMEOUT),
        "--out",
        "out",
    )
    try:
        interrupted.reached = wait_for(sleeping, 150, stopping)
        time.sleep(0.5)
        interrupted.during = processes_in(stop_root)
        stopping.send_signal(signal.SIGTERM)
        interrupted.result = finish(stopping)
        broken.hang = finish(hanging)
        broken.fail = finish(failing)
    finally:
        for proc in (stopping, failing, hanging):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    time.sleep(0.5)
    broken.leftovers, interrupted.leftovers = processes_in(broken_root), processes_in(stop_root)
    broken.children = interrupted.children = live_children()
    return SimpleNamespace(broken=broken, interrupted=interrupted)


@pytest.fixture(scope="module")
def broken(troubles):
    return troubles.broken


@pytest.fixture(scope="module")
def interrupted(troubles):
    return troubles.interrupted


@notebook
def test_failing_notebook_does_not_stop_the_others(broken):
    assert summary_statuses(broken.fail.stdout) == {"alpha": "failed", "gamma": "ok"}, shown(
        broken.fail
    )
    assert read_json(broken.out / "gamma" / "run.json")["status"] == "ok"
    assert (broken.out / "gamma" / "metrics.json").is_file()


@notebook
def test_failed_notebook_is_kept_in_dot_failed_with_partial_notebook_and_error(broken):
    folder = broken.out / "alpha.failed"
    record = read_json(folder / "run.json")
    assert record["status"] == "failed"
    assert (
        "RuntimeError" in record["message"] and "deliberate failure in alpha" in record["message"]
    )
    executed = nbformat.read(str(folder / "alpha.ipynb"), as_version=4)
    errors = [
        o
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert errors and errors[0].evalue == "deliberate failure in alpha"
    assert "alpha.ipynb" in record["outputs"] and "metrics.json" not in record["outputs"]
    assert not (folder / "metrics.json").exists()


@notebook
def test_previous_successful_outputs_stay_intact_after_a_failure(broken):
    assert snapshot(broken.out / "alpha") == broken.before["alpha"]
    assert read_json(broken.out / "alpha" / "run.json")["status"] == "ok"


@notebook
def test_summary_names_the_failed_notebook_and_exit_status_is_1(broken):
    assert broken.fail.rc == 1, shown(broken.fail)
    lines = broken.fail.stdout.splitlines()
    assert "alpha: RuntimeError: deliberate failure in alpha" in lines
    assert any(line.startswith("[") and "alpha: failed" in line for line in lines)


@notebook
def test_timeout_turns_a_hung_notebook_into_a_timeout_failure(broken):
    assert broken.hang.rc == 1, shown(broken.hang)
    assert summary_statuses(broken.hang.stdout) == {"beta": "timeout"}
    record = read_json(broken.out / "beta.failed" / "run.json")
    assert record["status"] == "timeout"
    assert f"{HANG_TIMEOUT} s timeout" in record["message"]
    assert f"beta: {record['message']}" in broken.hang.stdout
    assert (broken.out / "beta.failed" / "beta.ipynb").is_file()
    assert snapshot(broken.out / "beta") == broken.before["beta"]  # the earlier good run is kept


@notebook
def test_timeout_stops_the_kernel_and_returns_promptly(broken):
    assert broken.hang.seconds < HANG_TIMEOUT + 45, shown(broken.hang)
    assert broken.leftovers == []
    assert broken.children == []


@notebook
def test_failed_and_timed_out_runs_leave_no_staging_folders(broken):
    assert run_folders(broken.out) == ["alpha", "alpha.failed", "beta", "beta.failed", "gamma"]


@notebook
def test_sigterm_exits_143(interrupted):
    assert interrupted.reached, shown(interrupted.result)
    assert interrupted.result.rc == 128 + signal.SIGTERM, shown(interrupted.result)
    assert summary_statuses(interrupted.result.stdout) == {
        "alpha": "interrupted",
        "beta": "interrupted",
    }


@notebook
def test_sigterm_keeps_previous_outputs_byte_identical(interrupted):
    assert interrupted.reached
    assert snapshot(interrupted.out) == interrupted.before


@notebook
def test_sigterm_leaves_no_staging_folder(interrupted):
    assert interrupted.reached
    assert run_folders(interrupted.out) == ["alpha", "beta"]


@notebook
def test_sigterm_stops_papermill_the_kernel_and_the_worker_waiting_its_turn(interrupted):
    assert any("ipykernel" in p for p in interrupted.during), (
        interrupted.during
    )  # the check can see a kernel
    assert any("labs_tools.worker" in p and "beta.ipynb" in p for p in interrupted.during), (
        interrupted.during
    )
    assert interrupted.leftovers == []
    assert interrupted.children == []


# ---------------------------------------------------------------- --resume
# In-process (cli.cmd_run) on a copy of the base outputs, with labs_lib's source hash pinned to its
# value at the base run: the project's own files may be edited while the suite runs, which rightly
# invalidates every fingerprint and would make "unchanged" runs re-run.


def fresh(pack, out, name, backend, overrides=()):
    (job,) = runner.plan([name], "smoke", overrides, pack)
    return runner.up_to_date(job, runner.RunOptions(profile="smoke", backend=backend, out=out))


def labs_in_process(pack, out, *args):
    parsed = cli.build_parser().parse_args(
        [
            "--notebooks-dir",
            str(pack),
            "run",
            "--profile",
            "smoke",
            "--resume",
            *args,
            "--out",
            str(out),
        ]
    )
    buf = io.StringIO()
    return SimpleNamespace(rc=cli.cmd_run(parsed, out=buf), stdout=buf.getvalue(), stderr="")


@pytest.fixture(scope="module")
def resumed(base, tmp_path_factory):
    root = tmp_path_factory.mktemp("resume").resolve()
    pack, out = clone(base, root)
    r = SimpleNamespace(
        pack=pack,
        out=out,
        before=snapshot(out),
        ready={},
        fingerprints={
            name: read_json(out / name / "run.json")["fingerprint"] for name in ("alpha", "beta")
        },
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "library_hash", lambda: base.lib)
        r.base_fresh = all(
            r.fingerprints[job.name] == runner.fingerprint(job, "tensorflow")
            for job in runner.plan([], "smoke", (), pack)
        )
        # 1. nothing changed
        r.unchanged = labs_in_process(pack, out, "--backend", "tensorflow")
        r.after_unchanged = snapshot(out)
        # 2. alpha: the notebook file is edited; beta: an output file is deleted
        nb = nbformat.read(str(pack / "alpha.ipynb"), as_version=4)
        nb.cells.append(new_markdown_cell("An edit after the first run."))
        nbformat.write(nb, str(pack / "alpha.ipynb"))
        (out / "beta" / "figures" / "line.pdf").unlink()
        r.edited_and_deleted = labs_in_process(pack, out, "--backend", "tensorflow", "--jobs", "2")
        # 3. beta: a parameter changes (-p)
        r.ready["param"] = fresh(pack, out, "beta", "tensorflow")
        r.param = labs_in_process(pack, out, "beta", "--backend", "tensorflow", "-p", "n=4")
        # 4. alpha: the backend changes
        r.ready["backend"] = fresh(pack, out, "alpha", "tensorflow")
        r.backend = labs_in_process(pack, out, "alpha", "--backend", "jax") if HAVE_JAX else None
    return r


def require_base_fingerprints(resumed):
    if not resumed.base_fresh:
        pytest.skip(
            "labs_lib's source changed while the base run was executing; its fingerprints are stale"
        )


@notebook
def test_resume_skips_notebooks_whose_outputs_are_complete_and_inputs_unchanged(resumed):
    require_base_fingerprints(resumed)
    assert resumed.unchanged.rc == 0, shown(resumed.unchanged)
    assert summary_statuses(resumed.unchanged.stdout) == {"alpha": "skipped", "beta": "skipped"}
    assert (
        "[2/2 done] " in resumed.unchanged.stdout
        and "outputs up to date" in resumed.unchanged.stdout
    )
    assert resumed.after_unchanged == resumed.before


@notebook
def test_resume_reruns_when_the_notebook_file_changes(resumed):
    require_base_fingerprints(resumed)
    assert resumed.edited_and_deleted.rc == 0, shown(resumed.edited_and_deleted)
    assert summary_statuses(resumed.edited_and_deleted.stdout)["alpha"] == "ok"
    executed = nbformat.read(str(resumed.out / "alpha" / "alpha.ipynb"), as_version=4)
    assert executed.cells[-1].source == "An edit after the first run."


@notebook
def test_resume_reruns_when_an_output_file_was_deleted(resumed):
    require_base_fingerprints(resumed)
    assert resumed.edited_and_deleted.rc == 0, shown(resumed.edited_and_deleted)
    assert summary_statuses(resumed.edited_and_deleted.stdout)["beta"] == "ok"
    assert (resumed.out / "beta" / "figures" / "line.pdf").read_bytes()[:5] == b"%PDF-"


@notebook
def test_resume_reruns_when_a_parameter_changes(resumed):
    assert resumed.ready["param"], "beta should have been up to date before -p n=4"
    assert resumed.param.rc == 0, shown(resumed.param)
    assert summary_statuses(resumed.param.stdout) == {"beta": "ok"}
    record = read_json(resumed.out / "beta" / "run.json")
    assert record["parameters"]["n"] == 4 and record["fingerprint"] != resumed.fingerprints["beta"]
    assert read_json(resumed.out / "beta" / "metrics.json")["parameters"]["n"] == 4


@notebook
@pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")
def test_resume_reruns_when_the_backend_changes(resumed):
    assert resumed.ready["backend"], "alpha should have been up to date under tensorflow"
    assert resumed.backend.rc == 0, shown(resumed.backend)
    assert summary_statuses(resumed.backend.stdout) == {"alpha": "ok"}
    assert read_json(resumed.out / "alpha" / "run.json")["backend"] == "jax"
    assert read_json(resumed.out / "alpha" / "metrics.json")["backend"] == "jax"


@notebook
def test_resume_leaves_no_staging_folders(resumed):
    assert run_folders(resumed.out) == ["alpha", "beta"]


def test_timeout_nan_is_refused(tmp_path, vpack):
    out = tmp_path / "out"
    code = cli.main(
        [
            "--notebooks-dir",
            str(vpack),
            "run",
            "--profile",
            "smoke",
            "--timeout",
            "nan",
            "--out",
            str(out),
        ]
    )
    assert code == 2 and not out.exists()


def test_empty_notebooks_folder_is_a_usage_error(tmp_path, capsys):
    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    code = cli.main(["--notebooks-dir", str(empty), "run", "--profile", "smoke", "--out", str(out)])
    assert code == 2 and "no notebooks found" in capsys.readouterr().err and not out.exists()


# ---------------------------------------------------------------- notebooks that need a backend


def requires_pack(nbmaker, folder):
    """A pack whose `tfonly` notebook declares labs.requires = ["tensorflow"] and `plain` does
    not."""
    pack = nbmaker.pack(folder, names=("plain",))
    nbmaker.notebook(pack, "tfonly", requires=("tensorflow",))
    return pack


def test_list_shows_a_notebooks_backend_requirement(nbmaker, tmp_path):
    pack = requires_pack(nbmaker, tmp_path / "pack")
    out = run_labs(tmp_path, pack, "list").stdout
    block = out[out.index("tfonly:") :]
    assert "requires: the tensorflow backend" in block
    assert "requires:" not in out[out.index("plain:") : out.index("tfonly:")]


@notebook
@pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed (pip install -e '.[jax]')")
def test_a_tensorflow_notebook_is_skipped_with_its_reason_under_jax(nbmaker, tmp_path):
    pack, out = requires_pack(nbmaker, tmp_path / "pack"), tmp_path / "out"
    result = run_labs(
        tmp_path, pack, "run", "--profile", "smoke", "--backend", "jax", "--out", str(out)
    )
    assert result.rc == 0, shown(result)
    assert summary_statuses(result.stdout) == {"plain": "ok", "tfonly": "skipped"}
    assert "tfonly: skipped in 0.0 s - needs the tensorflow backend" in result.stdout
    assert run_folders(out) == ["plain"]  # nothing written for the skipped notebook


def test_unmet_says_why_and_is_empty_when_the_requirement_holds(tmp_path, monkeypatch):
    job = runner.Job("tfonly", tmp_path / "x.ipynb", {}, requires=("tensorflow",))
    assert runner.unmet(job, "tensorflow") == ""
    assert "this run uses jax" in runner.unmet(job, "jax")
    monkeypatch.setattr(runner.importlib.util, "find_spec", lambda name: None)
    assert (
        runner.unmet(job, "tensorflow")
        == "needs tensorflow, which is not installed in this environment"
    )
    assert runner.unmet(runner.Job("plain", tmp_path / "y.ipynb", {}), "jax") == ""


def test_an_unknown_requirement_is_a_usage_error(nbmaker, tmp_path):
    pack = nbmaker.pack(tmp_path / "pack", names=())
    nbmaker.notebook(pack, "odd", requires=("torch",))
    with pytest.raises(
        runner.UsageError, match="labs.requires may name {tensorflow, jax}, got 'torch'"
    ):
        runner.requirements(pack / "odd.ipynb")


@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_every_shipped_profile_plans_every_notebook(profile):
    jobs = runner.plan(list(runner.discover()), profile)
    assert [job.name for job in jobs] == list(runner.discover())


# ---------------------------------------------------------------- warm starts

WHEN_CELLS = [
    """import os, sys, time
# when this kernel process started, to 10 ms (psutil's create_time counts from the boot time in
# whole seconds, too coarse to order a kernel start against another notebook's end)
ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
uptime = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
kernel_started = time.time() - uptime
preloaded = sorted(m for m in ("pandas", "labs_lib.reporting") if m in sys.modules)""",
    """import pandas as pd
from labs_lib.reporting import Report
report = Report("{name}", dict(profile=profile, sleep=sleep), out_dir)
time.sleep(sleep)
report.record(
    kernel_started=kernel_started,
    preloaded=preloaded,
    kernel_pid=os.getpid(),
    finished=time.time(),
)
report.save()""",
]


def write_when_notebook(folder, name):
    """A notebook that records when its kernel process started, which modules it found imported,
    and its end."""
    params = (
        'profile: str = "full"  # profile label; in {smoke, quick, full, custom}\n'
        'sleep: float = 0.0  # seconds to sleep; in [0, 60]\nout_dir: str = ""  # output folder'
    )
    cells = [new_code_cell(params, metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(code.format(name=name)) for code in WHEN_CELLS]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(Path(folder) / f"{name}.ipynb"))


@pytest.fixture(scope="module")
def warm_and_cold(nbmaker, tmp_path_factory):
    """One pack of three notebooks (the first two sleep), run with warm starts and with
    --no-warm-start."""
    root = tmp_path_factory.mktemp("warm").resolve()
    smoke = "first:\n  sleep: 4\nsecond:\n  sleep: 3\n"
    pack = nbmaker.pack(root / "pack", names=(), profiles={"smoke": smoke, "quick": "", "full": ""})
    for name in ("first", "second", "third"):
        write_when_notebook(pack, name)
    runs = {}
    for mode, options in (("warm", []), ("cold", ["--no-warm-start"])):
        result = run_labs(root, pack, "run", "--profile", "smoke", "--out", f"out-{mode}", *options)
        assert result.rc == 0, shown(result)
        runs[mode] = {
            name: read_json(root / f"out-{mode}" / name / "metrics.json")["values"]
            for name in ("first", "second", "third")
        }
    return runs


@notebook
def test_warm_start_starts_the_next_kernel_and_its_imports_while_a_notebook_runs(warm_and_cold):
    run = warm_and_cold["warm"]
    assert (
        run["second"]["kernel_started"] < run["first"]["finished"] - 2
    )  # started while `first` slept
    assert run["second"]["preloaded"] == [
        "labs_lib.reporting",
        "pandas",
    ]  # the notebook's own imports, done ahead
    assert run["third"]["kernel_started"] < run["second"]["finished"] - 1
    assert len({r["kernel_pid"] for r in run.values()}) == 3  # still one kernel per notebook


@notebook
def test_no_warm_start_starts_each_kernel_at_its_turn_with_nothing_imported(warm_and_cold):
    run = warm_and_cold["cold"]
    for before, after in (("first", "second"), ("second", "third")):
        assert run[after]["kernel_started"] > run[before]["finished"]
    assert all(r["preloaded"] == [] for r in run.values())


def test_imports_of_lists_a_notebooks_top_level_imports_and_skips_cells_with_magics(tmp_path):
    cells = [
        new_code_cell("import numpy as np, json\nfrom labs_lib import data, plots\nx = 1"),
        new_code_cell("%matplotlib inline\nimport never_seen"),
        new_markdown_cell("import not_code"),
        new_code_cell("def f():\n    import inside_a_function\nfrom . import relative"),
    ]
    nbformat.write(new_notebook(cells=cells), str(tmp_path / "nb.ipynb"))
    assert worker.imports_of(tmp_path / "nb.ipynb") == [
        "numpy",
        "json",
        "labs_lib",
        "labs_lib.data",
        "labs_lib.plots",
    ]


def test_warm_up_code_imports_without_binding_names_and_ignores_a_missing_module():
    namespace = {}
    exec(
        worker.WARM_UP.format(names=["json", "no_such_module_here", "labs_lib.shared.files"]),
        namespace,
    )
    assert set(namespace) == {"__builtins__"} and "labs_lib.shared.files" in sys.modules


def executed_with_injected(path, staging):
    """A minimal executed notebook as papermill writes it, its out_dir in `staging`."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {"tags": ["injected-parameters"]},
                "source": [f'out_dir = "{staging}"\n'],
                "outputs": [],
                "execution_count": 1,
            }
        ],
        "metadata": {
            "papermill": {
                "input_path": "/abs/notebooks/02_initialization.ipynb",
                "output_path": str(path),
                "parameters": {"out_dir": str(staging)},
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


@pytest.mark.parametrize("inside", [True, False])
def test_publishing_rewrites_the_staging_path_in_the_executed_notebook(tmp_path, inside):
    out = (runner.PROJECT_ROOT / "reports") if inside else tmp_path / "my-reports"
    staging = out / ".staging-02_initialization-0123abcd"
    executed = tmp_path / "02_initialization.ipynb"
    executed_with_injected(executed, staging)
    source = runner.NOTEBOOKS_DIR / "02_initialization.ipynb"
    runner.relocate(executed, staging, out / "02_initialization", source)
    text = executed.read_text()
    assert ".staging-" not in text and str(out) not in text
    expected = "../reports/02_initialization" if inside else "my-reports/02_initialization"
    nb = json.loads(text)
    assert nb["cells"][0]["source"] == [f'out_dir = "{expected}"\n']
    assert nb["metadata"]["papermill"]["parameters"]["out_dir"] == expected
    assert nb["metadata"]["papermill"]["input_path"] == "02_initialization.ipynb"
    assert nb["metadata"]["papermill"]["output_path"] == f"{expected}/02_initialization.ipynb"


def test_with_several_jobs_the_longest_last_run_goes_first_and_untimed_ones_before_it(tmp_path):
    jobs = [runner.Job(n, tmp_path / f"{n}.ipynb", {}) for n in ("01_a", "02_b", "03_c", "04_d")]
    times = {"01_a": (30.0, "quick"), "02_b": (90.0, "quick"), "04_d": (900.0, "full")}
    for name, (seconds, profile) in times.items():
        record = {"status": "ok", "profile": profile, "backend": "tensorflow", "seconds": seconds}
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps(record))
    opts = runner.RunOptions(profile="quick", backend="tensorflow", out=tmp_path, jobs=2)
    # 03 and 04 have no quick time (04's is of the full profile): they go first, in their order
    assert [j.name for j in runner.longest_first(jobs, opts)] == ["03_c", "04_d", "02_b", "01_a"]
    opts.jobs = 1
    assert runner.longest_first(jobs, opts) == jobs
