"""Process faults, injected for real on tiny generated notebooks: a kernel killed mid-run (warm
start, and --jobs 2 without it), each stop signal sent to `labs run`, the runner itself killed
outright, and `labs lab` stopped by each signal.

Each test checks what the issue asks: the status and message, the seconds to notice (not the
timeout's), no process left behind (by process id), no staging folder left, previous outputs
byte-identical.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import nbformat
import psutil
import pytest
from test_runner import (
    finish,
    live_children,
    processes_in,
    read_json,
    run_folders,
    run_labs,
    shown,
    snapshot,
    start_labs,
    summary_statuses,
    wait_for,
)

from labs_tools import processes, runner

notebook = pytest.mark.notebook
NOTICE_LIMIT = 20  # seconds: what "within seconds" means on a loaded 2-core machine
SMOKE = "alpha:\n  sleep: 300\n"  # alpha sleeps in its last cell; beta runs through


# ---------------------------------------------------------------- helpers


def sleeping(out, name="alpha"):
    """True once `name`'s staged notebook has reached its last cell (the sleep)."""
    staged = list(Path(out).glob(f".staging-{name}-*/{name}.ipynb"))
    started, total = runner.cell_progress(staged[0]) if staged else (0, 0)
    return total > 0 and started == total


def worker_and_kernel(runner_pid, name="alpha"):
    """(worker, kernel) psutil.Processes of notebook `name` below the runner `runner_pid`."""
    for proc in psutil.Process(runner_pid).children(recursive=True):
        cmdline = " ".join(proc.cmdline())
        if "labs_tools.worker" in cmdline and f"{name}.ipynb" in cmdline:
            kernels = [k for k in proc.children() if "ipykernel" in " ".join(k.cmdline())]
            return proc, (kernels[0] if kernels else None)
    return None, None


def gone(pids):
    """The ids of `pids` that no longer run (exited, or a zombie waiting for its parent)."""
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.Error:
            pass
    return not left


def staging_folders(out):
    return sorted(p.name for p in Path(out).glob(".staging-*"))


def copy_run(prepared, root):
    """A copy of the prepared pack and its outputs under `root`."""
    shutil.copytree(prepared.pack, root / "pack")
    shutil.copytree(prepared.out, root / "out")
    return SimpleNamespace(root=root, pack=root / "pack", out=root / "out")


@pytest.fixture(scope="module")
def prepared(nbmaker, tmp_path_factory):
    """alpha and beta run once on smoke (previous outputs), then alpha set to sleep."""
    root = tmp_path_factory.mktemp("prepared").resolve()
    pack = nbmaker.pack(root / "pack", names=("alpha", "beta"))
    done = run_labs(root, pack, "run", "--profile", "smoke", "--jobs", "2", "--out", "out")
    assert done.rc == 0, shown(done)
    (pack / "profiles" / "smoke.yaml").write_text(SMOKE)
    return SimpleNamespace(pack=pack, out=root / "out")


# ---------------------------------------------------------------- a kernel killed mid-run


def kill_kernel_while_alpha_sleeps(prepared, root, *options):
    """Start `labs run alpha beta` with `options`, SIGKILL alpha's kernel in its sleep, and record
    the seconds until alpha is reported (its .failed/run.json)."""
    run = copy_run(prepared, root)
    before = snapshot(run.out / "alpha")
    proc = start_labs(root, run.pack, "run", "alpha", "beta", "--profile", "smoke", "--out", "out",
                      *options)  # fmt: skip
    try:
        assert wait_for(lambda: sleeping(run.out), 120, proc), "alpha never reached its sleep"
        worker, kernel = worker_and_kernel(proc.pid)
        killed = time.monotonic()
        kernel.kill()
        noticed = wait_for(lambda: (run.out / "alpha.failed" / "run.json").exists(), 120, proc)
        run.notice_seconds = time.monotonic() - killed if noticed else None
        run.result = finish(proc)
    finally:
        if proc.poll() is None:
            processes.kill_tree(proc)
    run.pids, run.before = [worker.pid, kernel.pid], before
    time.sleep(0.5)
    run.leftovers, run.children = processes_in(root), live_children()
    return run


@pytest.fixture(scope="module", params=["warm start", "--jobs 2, cold"])
def killed_kernel(request, prepared, tmp_path_factory):
    options = () if request.param == "warm start" else ("--jobs", "2", "--no-warm-start")
    root = tmp_path_factory.mktemp("killed-kernel").resolve()
    return kill_kernel_while_alpha_sleeps(prepared, root, *options)


@notebook
def test_a_killed_kernel_fails_its_notebook_within_seconds_and_the_others_run(killed_kernel):
    run = killed_kernel
    assert run.notice_seconds is not None and run.notice_seconds < NOTICE_LIMIT, shown(run.result)
    assert run.result.rc == 1, shown(run.result)
    assert summary_statuses(run.result.stdout) == {"alpha": "failed", "beta": "ok"}
    cause = "the kernel died (killed by signal 9: out of memory?)"
    assert f"alpha: DeadKernelError: {cause}" in run.result.stdout
    assert (
        read_json(run.out / "alpha.failed" / "run.json")["message"] == f"DeadKernelError: {cause}"
    )


@notebook
def test_a_killed_kernels_partial_notebook_is_kept_with_the_cause(killed_kernel):
    executed = nbformat.read(str(killed_kernel.out / "alpha.failed" / "alpha.ipynb"), 4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]  # fmt: skip
    assert [(e.ename, e.evalue) for e in errors] == [
        ("DeadKernelError", "the kernel died (killed by signal 9: out of memory?)")
    ]
    assert "time.sleep(sleep)" in executed.cells[-1].source  # the cell it died in


@notebook
def test_a_killed_kernel_leaves_no_process_staging_or_changed_outputs(killed_kernel):
    run = killed_kernel
    assert gone(run.pids) and run.leftovers == [] and run.children == []
    assert run_folders(run.out) == ["alpha", "alpha.failed", "beta"]
    assert snapshot(run.out / "alpha") == run.before


# ---------------------------------------------------------------- stop signals to `labs run`


@pytest.fixture(scope="module", params=["SIGHUP", "SIGINT"])
def signalled(request, prepared, tmp_path_factory):
    """`labs run alpha beta` sent SIGHUP (a closed terminal) or SIGINT while alpha sleeps."""
    signum = getattr(signal, request.param)
    run = copy_run(prepared, tmp_path_factory.mktemp(request.param).resolve())
    run.signum, run.before = signum, snapshot(run.out)
    proc = start_labs(run.root, run.pack, "run", "alpha", "beta", "--profile", "smoke", "--out",
                      "out")  # fmt: skip
    try:
        run.reached = wait_for(lambda: sleeping(run.out), 120, proc)
        worker, kernel = worker_and_kernel(proc.pid)
        run.pids = [p.pid for p in (worker, kernel) if p is not None]
        sent = time.monotonic()
        proc.send_signal(signum)
        run.result = finish(proc)
        run.stop_seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            processes.kill_tree(proc)
    time.sleep(0.5)
    run.leftovers, run.children = processes_in(run.root), live_children()
    return run


@notebook
def test_a_stop_signal_exits_128_plus_its_number_within_seconds(signalled):
    run = signalled
    assert run.reached and len(run.pids) == 2, shown(run.result)
    assert run.result.rc == 128 + run.signum, shown(run.result)
    assert run.stop_seconds < NOTICE_LIMIT
    assert summary_statuses(run.result.stdout) == {"alpha": "interrupted", "beta": "interrupted"}
    name = signal.Signals(run.signum).name
    assert "alpha: interrupted in" in run.result.stdout
    assert f"stopped by {name}; previous outputs kept" in run.result.stdout


@notebook
def test_a_stop_signal_stops_every_process_and_keeps_previous_outputs(signalled):
    run = signalled
    assert gone(run.pids) and run.leftovers == [] and run.children == []
    assert run_folders(run.out) == ["alpha", "beta"]  # no staging folder
    assert snapshot(run.out) == run.before


# ---------------------------------------------------------------- the runner killed outright


@pytest.fixture(scope="module")
def killed_runner(prepared, tmp_path_factory):
    """`labs run alpha` SIGKILLed while alpha sleeps; meanwhile and after, `labs run beta` into the
    same folder."""
    run = copy_run(prepared, tmp_path_factory.mktemp("killed-runner").resolve())
    run.before = snapshot(run.out / "alpha")
    proc = start_labs(run.root, run.pack, "run", "alpha", "--profile", "smoke", "--out", "out")
    try:
        run.reached = wait_for(lambda: sleeping(run.out), 120, proc)
        run.staging = staging_folders(run.out)
        run.meanwhile = run_labs(run.root, run.pack, "run", "beta", "--profile", "smoke",
                                 "--out", "out")  # fmt: skip
        run.kept_while_running = staging_folders(run.out)
        worker, kernel = worker_and_kernel(proc.pid)
        run.pids = [worker.pid, kernel.pid]
        killed = time.monotonic()
        proc.kill()
        proc.wait()
        run.all_gone = wait_for(lambda: gone(run.pids), NOTICE_LIMIT)
        run.gone_seconds = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            processes.kill_tree(proc)
    run.left_by_kill = staging_folders(run.out)
    run.after = run_labs(run.root, run.pack, "run", "beta", "--profile", "smoke", "--out", "out")
    run.leftovers, run.children = processes_in(run.root), live_children()
    return run


@notebook
def test_a_killed_runners_worker_and_kernel_stop_by_themselves(killed_runner):
    run = killed_runner
    assert run.reached and run.all_gone, f"still running: {run.pids}"
    assert run.gone_seconds < NOTICE_LIMIT
    assert run.leftovers == [] and run.children == []


@notebook
def test_the_next_run_removes_a_killed_runners_staging_folder_only(killed_runner):
    run = killed_runner
    assert len(run.staging) == 1 and run.staging[0].startswith(".staging-alpha-")
    assert run.meanwhile.rc == 0, shown(run.meanwhile)
    assert run.kept_while_running == run.staging  # a live run's staging folder is left alone
    assert run.left_by_kill == run.staging
    assert run.after.rc == 0, shown(run.after)
    assert f"removed {run.staging[0]}, left by a run that was killed" in run.after.stdout
    assert run_folders(run.out) == ["alpha", "beta"]
    assert snapshot(run.out / "alpha") == run.before


def test_leftovers_are_told_from_live_runs_by_owner_and_age(tmp_path):
    live, dead = runner.make_staging(tmp_path, "a"), runner.make_staging(tmp_path, "b")
    (dead / runner.OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "started": 1.0}))
    young, old = tmp_path / ".staging-c-1", tmp_path / ".staging-d-2"
    young.mkdir(), old.mkdir()
    os.utime(old, (time.time() - 2 * runner.STALE_AFTER,) * 2)
    assert [runner.is_leftover(p) for p in (live, dead, young, old)] == [False, True, False, True]


def test_an_output_folder_left_renamed_aside_by_a_kill_is_put_back(tmp_path, monkeypatch):
    aside = tmp_path / ".old-alpha-1234abcd"
    aside.mkdir()
    (aside / "run.json").write_text("{}")
    (tmp_path / ".old-beta-99").mkdir()  # beta itself is there: the aside copy is dropped
    (tmp_path / "beta").mkdir()
    later = time.time() + 2 * runner.STALE_AFTER  # ctime cannot be set back: the clock is moved
    monkeypatch.setattr(runner.time, "time", lambda: later)
    runner.remove_leftovers(tmp_path, runner.Progress(0, open(os.devnull, "w")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha", "beta"]
    assert (tmp_path / "alpha" / "run.json").read_text() == "{}"


# ---------------------------------------------------------------- small pieces


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (-9, "killed by signal 9: out of memory?"),
        (-11, "killed by signal 11, SIGSEGV"),
        (3, "exit code 3"),
    ],
)
def test_exit_cause_names_the_signal_or_the_code(code, cause):
    assert processes.exit_cause(code) == cause


def test_exit_status_is_128_plus_the_stopping_signal():
    def stopped(signum):
        return [runner.Result("a", "ok"), runner.Result("b", "interrupted", signum=signum)]

    assert [runner.exit_status(stopped(s)) for s in (2, 15, 1)] == [130, 143, 129]
    assert runner.exit_status([runner.Result("a", "failed")]) == 1


def test_a_recorded_process_is_running_only_while_it_is_the_same_process():
    me = processes.identity()
    assert processes.is_running(me)
    assert not processes.is_running({**me, "started": me["started"] - 10})  # a reused id
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    record = processes.identity(child.pid)
    child.wait()
    assert not processes.is_running(record)


# ---------------------------------------------------------------- `labs lab` stopped


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_api(base, token, path, method="GET"):
    request = urllib.request.Request(
        base + path, method=method, data=b"{}" if method == "POST" else None,
        headers={"Authorization": f"token {token}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module", params=["SIGTERM", "SIGINT", "SIGHUP"])
def stopped_lab(request, nbmaker, tmp_path_factory):
    """`labs lab` with a kernel running in it, sent one stop signal."""
    signum, port = getattr(signal, request.param), free_port()
    pack = nbmaker.pack(tmp_path_factory.mktemp("lab-pack"), names=("alpha",))
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path_factory.mktemp("runtime")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "labs_tools.cli", "--notebooks-dir", str(pack), "lab",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    lab = SimpleNamespace(signum=signum, base=f"http://127.0.0.1:{port}")
    try:
        lab.token = re.search(r"token=(\w+)", proc.stdout.readline() + proc.stdout.readline())[1]
        assert wait_for(lambda: ready(lab), 90, proc), "JupyterLab did not start"
        lab.notification = lab_api(
            lab.base, lab.token, "/lab/api/settings/@jupyterlab/apputils-extension:notification"
        )
        lab.kernel = lab_api(lab.base, lab.token, "/api/kernels", "POST")
        assert wait_for(lambda: len(psutil.Process(proc.pid).children(recursive=True)) >= 2, 60)
        lab.pids = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        sent = time.monotonic()
        proc.send_signal(signum)
        lab.rc = proc.wait(timeout=60)
        lab.seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            processes.kill_tree(proc)
    time.sleep(0.5)
    return lab


def ready(lab):
    try:
        return bool(lab_api(lab.base, lab.token, "/api/status"))
    except OSError:
        return False


def test_labs_lab_stops_its_server_and_kernels_on_a_stop_signal(stopped_lab):
    lab = stopped_lab
    assert lab.rc == 128 + lab.signum
    assert lab.seconds < NOTICE_LIMIT
    assert len(lab.pids) >= 2 and gone(lab.pids)  # the server and the kernel it started
    assert not ready(lab)  # the port is closed


def test_labs_lab_starts_without_the_news_pop_up(stopped_lab):
    # JupyterLab asks about Jupyter's news while fetchNews is "none" (its schema's default)
    fetch_news = stopped_lab.notification["schema"]["properties"]["fetchNews"]
    assert fetch_news["default"] == "false"
