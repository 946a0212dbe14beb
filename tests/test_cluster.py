"""`labs run --grid` and `labs run --executor dask`: against a real Dask scheduler and two worker
processes started here (`dask scheduler`, `dask worker`), a worker killed mid-job included."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from labs_tools import processes

LABS = [sys.executable, "-m", "labs_tools.cli"]
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """The address of a real scheduler and two single-threaded worker processes, started with the
    README's `dask scheduler` / `dask worker` commands (outside this process, so that nothing of
    them outlives the fixture)."""
    info = tmp_path_factory.mktemp("dask") / "scheduler.json"
    dask = [str(Path(sys.executable).parent / "dask")]
    started = [
        subprocess.Popen(
            [*dask, "scheduler", "--scheduler-file", str(info), "--port", "0", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.time() + 60
        while not info.exists() and time.time() < deadline:
            time.sleep(0.2)
        started.append(
            subprocess.Popen(
                [*dask, "worker", "--scheduler-file", str(info), "--nworkers", "2"]
                + ["--nthreads", "1", "--no-dashboard"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        with distributed.Client(scheduler_file=str(info), timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            address = client.scheduler.address
        yield address
    finally:
        for proc in reversed(started):
            processes.kill_tree(proc)


def labs(pack, *args, timeout=300):
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    cmd = [*LABS, "--notebooks-dir", str(pack), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def read(folder, name):
    return json.loads((folder / name).read_text())


def leftovers(marker):
    """Processes whose command line names `marker` (a test's folder)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in p.info["cmdline"] or []):
            found.append(p)
    return found


@pytest.mark.notebook
def test_a_grid_on_the_cluster_publishes_every_run_in_its_own_folder(nbmaker, scheduler, tmp_path):
    pack = nbmaker.pack(tmp_path / "pack", names=("aa", "bb"))
    out = tmp_path / "out"
    done = labs(pack, "run", "--profile", "smoke", "--executor", "dask", "--scheduler", scheduler,
                "--grid", "n=2,4", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    runs = ["aa--n=2", "aa--n=4", "bb--n=2", "bb--n=4"]
    for name in runs:
        record, metrics = read(out / name, "run.json"), read(out / name, "metrics.json")
        assert record["status"] == "ok" and record["notebook"] == name
        assert metrics["parameters"]["n"] == int(name[-1])
        assert len(read(out / name, "metrics.json")["tables"]["points"]["rows"]) == int(name[-1])
        assert (out / name / "figures" / "line.png").is_file()
        executed = (out / name / f"{name}.ipynb").read_text()
        assert "labs-" not in executed  # the worker's temporary folder is never named
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == runs  # nothing half-written
    page = (out / "index.html").read_text()
    assert all(f"(n={n})" in page for n in (2, 4))  # the gallery lists every grid run


@pytest.mark.notebook
def test_a_failing_job_is_reported_and_kept_in_dot_failed_the_others_run(
    nbmaker, scheduler, tmp_path
):
    pack = nbmaker.pack(tmp_path / "pack", names=("aa", "bb"))
    out = tmp_path / "out"
    dask = ["--executor", "dask", "--scheduler", scheduler]
    done = labs(pack, "run", "bb", "aa", "--profile", "smoke", *dask, "--grid", "fail=true,false",
                "--out", str(out))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    failed = read(out / "aa--fail=true.failed", "run.json")
    assert failed["status"] == "failed" and "deliberate failure in aa" in failed["message"]
    assert read(out / "aa--fail=false", "run.json")["status"] == "ok"
    assert "failed" in done.stdout and "aa--fail=true" in done.stdout


@pytest.mark.notebook
def test_a_worker_killed_mid_job_gets_the_job_rerun_or_reported_and_leaves_nothing(
    nbmaker, scheduler, tmp_path
):
    pack = nbmaker.pack(tmp_path / "pack", names=("slow",))
    out = tmp_path / "out"
    killed = []

    def kill_the_worker_running_it():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for p in leftovers("src-slow.ipynb"):  # the labs worker, child of a Dask worker
                time.sleep(3)  # let it get well into its notebook
                dask_worker, kernel = p.parent(), p.children(recursive=True)
                dask_worker.send_signal(signal.SIGKILL)
                killed.extend([p.pid, *(k.pid for k in kernel)])
                break
            time.sleep(0.2)

    killer = threading.Thread(target=kill_the_worker_running_it)
    killer.start()
    started = time.time()
    done = labs(pack, "run", "--profile", "smoke", "--executor", "dask", "--scheduler", scheduler,
                "-p", "sleep=8", "--out", str(out))  # fmt: skip
    killer.join()
    assert killed, "the job's worker was never seen"
    print(done.stdout)  # shown with -s: rerun (ok) or failed
    status = read(out / ("slow" if done.returncode == 0 else "slow.failed"), "run.json")["status"]
    assert (done.returncode, status) in ((0, "ok"), (1, "failed")), done.stdout + done.stderr
    assert time.time() - started < 150
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
    time.sleep(5)  # the killed worker's notebook process and its kernel stop by themselves
    alive = [pid for pid in killed if psutil.pid_exists(pid) and not zombie(pid)]
    assert alive == [], [psutil.Process(pid).cmdline() for pid in alive]
    assert [p.pid for p in leftovers("src-slow.ipynb")] == []


def zombie(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize(
    "args, message",
    [
        (["--executor", "dask"], "--executor dask needs --scheduler ADDRESS"),
        (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask"),
        (["--grid", "nope=1,2"], "--grid: unknown parameter 'nope'; allowed:"),
        (["--grid", "n=2,x"], "--grid n:"),
        (["--grid", "n"], "expects NAME=VALUE"),
    ],
)
def test_bad_executor_or_grid_options_exit_2_before_anything_runs(nbmaker, tmp_path, args, message):
    pack = nbmaker.pack(tmp_path / "pack", names=("aa",))
    env_free = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    cmd = [*LABS, "--notebooks-dir", str(pack), "run", *args, "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, env=env_free, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.notebook
def test_a_grid_runs_on_the_local_executor_too(nbmaker, tmp_path):
    pack = nbmaker.pack(tmp_path / "pack", names=("aa",))
    out = tmp_path / "out"
    done = labs(
        pack, "run", "--profile", "smoke", "--grid", "n=3,5", "--jobs", "2", "--out", str(out)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [read(out / f"aa--n={n}", "metrics.json")["parameters"]["n"] for n in (3, 5)] == [3, 5]


@pytest.mark.notebook
def test_grade_on_the_cluster_scores_as_grading_here_does(scheduler, tmp_path):
    from test_grading import (  # the grading tests' pack
        SOLVED_STUB_WRONG,
        course,
        make_pack,
        nbformat,
        submission,
    )

    pack = make_pack(tmp_path / "notebooks")
    stub = course.student_version(nbformat.read(str(pack / "zz_exercises.ipynb"), as_version=4))
    stub_path = tmp_path / "submitted" / "stella" / "zz_exercises.ipynb"
    stub_path.parent.mkdir(parents=True)
    nbformat.write(stub, str(stub_path))
    subs = [
        submission(pack, tmp_path, "ada"),
        stub_path,
        submission(pack, tmp_path, "wrong", ("return x / 2", "return x // 2")),
    ]
    out = tmp_path / "grades"
    dask = ["--executor", "dask", "--scheduler", scheduler]
    done = labs(pack, "grade", *map(str, subs), *dask, "--out", str(out), "--timeout", "120")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = list(csv.DictReader((out / "grades.csv").open()))
    got = {(r["student"], r["exercise"]): float(r["points"]) for r in rows}
    assert got == SOLVED_STUB_WRONG
    messages = {(r["student"], r["exercise"]): r["message"] for r in rows}
    assert messages["wrong", "ex_half"] == "AssertionError: half(3): expected 1.5, got 1"
