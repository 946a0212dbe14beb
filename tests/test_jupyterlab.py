"""A real JupyterLab server, as `labs lab` starts it: token auth on /api/status, a kernel started
through the REST API, a notebook's cells run through the kernel's websocket on the smoke profile,
then the server stopped by its
process id."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import nbformat
import pytest

from labs_tools import cli, runner

websocket = pytest.importorskip(
    "websocket", reason="websocket-client is needed to talk to the kernel (dev extra)"
)
NOTEBOOK = "02_initialization"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, token=None):
    request = urllib.request.Request(
        url, headers={"Authorization": f"token {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """JupyterLab on the pack's notebooks, started with the command `labs lab` uses; stopped by pid
    at the end."""
    port, token = free_port(), uuid.uuid4().hex
    log = open(tmp_path_factory.mktemp("lab") / "jupyterlab.log", "w+")
    env = runner.kernel_env(os.environ.get("KERAS_BACKEND", "tensorflow"))
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("runtime"))
    proc = subprocess.Popen(
        cli.lab_command(runner.NOTEBOOKS_DIR, "127.0.0.1", port, token),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if get(f"{base}/api/status", token)[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read()[-3000:]}")
        time.sleep(0.5)
    else:
        pytest.fail("JupyterLab did not answer /api/status within 90 s")
    yield {"base": base, "token": token, "proc": proc, "log": log}
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    log.close()


class Kernel:
    """A kernel started through the server's REST API, driven over its websocket channels."""

    def __init__(self, server):
        self.server = server
        request = urllib.request.Request(
            f"{server['base']}/api/kernels",
            data=json.dumps({"name": "python3"}).encode(),
            headers={
                "Authorization": f"token {server['token']}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 201
            self.id = json.loads(response.read())["id"]
        ws_url = (
            server["base"].replace("http", "ws")
            + f"/api/kernels/{self.id}/channels?token={server['token']}"
        )
        self.ws = websocket.create_connection(ws_url, timeout=600)
        self.session = uuid.uuid4().hex

    def execute(self, code, timeout=600):
        """Run `code`; returns the iopub outputs ([{'type': msg_type, 'content': ...}]) and the
        reply's status."""
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "test",
                        "session": self.session,
                        "date": "",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "buffers": [],
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        outputs, reply, idle = [], None, False
        deadline = time.time() + timeout
        while (reply is None or not idle) and time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "execute_reply":
                reply = msg["content"]["status"]
            elif kind == "status":
                idle = msg["content"]["execution_state"] == "idle"
            elif kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append({"type": kind, "content": msg["content"]})
        assert reply is not None, f"no reply within {timeout} s to: {code[:80]}"
        return outputs, reply

    def shutdown(self):
        """Close the channels and stop the kernel (nothing to do once the server itself has
        stopped)."""
        self.ws.close()
        request = urllib.request.Request(
            f"{self.server['base']}/api/kernels/{self.id}",
            method="DELETE",
            headers={"Authorization": f"token {self.server['token']}"},
        )
        try:
            urllib.request.urlopen(request, timeout=30)
        except OSError:
            pass


def test_status_answers_200_with_the_token_and_403_without(server):
    status, body = get(f"{server['base']}/api/status", server["token"])
    assert status == 200 and "started" in json.loads(body)
    assert get(f"{server['base']}/api/status")[0] == 403
    assert get(f"{server['base']}/api/status", "wrong-token")[0] == 403


@pytest.fixture(scope="module")
def session(server, tmp_path_factory):
    """02_initialization run cell by cell through a kernel: the parameters cell, then the smoke
    profile's values (as a student edits them), then every other code cell.
    {"outputs": [per cell], "out": folder, "kernel": Kernel}."""
    out = tmp_path_factory.mktemp("lab-out")
    kernel = Kernel(server)
    job = runner.plan([NOTEBOOK], "smoke")[0]
    edits = "\n".join(
        f"{name} = {value!r}" for name, value in {**job.params, "out_dir": str(out)}.items()
    )
    nb = nbformat.read(str(job.path), as_version=4)
    results = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        results.append(kernel.execute(cell.source))
        if "parameters" in cell.metadata.get("tags", []):
            results.append(kernel.execute(edits))
    yield {"results": results, "out": out, "kernel": kernel}
    kernel.shutdown()


def test_a_notebook_runs_cell_by_cell_through_the_kernel_without_errors(session):
    for outputs, reply in session["results"]:
        errors = [o["content"] for o in outputs if o["type"] == "error"]
        assert reply == "ok" and not errors, errors


def test_training_shows_one_line_per_epoch_and_figures_show_inline(session):
    text = "".join(
        o["content"]["text"]
        for outputs, _ in session["results"]
        for o in outputs
        if o["type"] == "stream"
    )
    epochs = runner.plan([NOTEBOOK], "smoke")[0].params["epochs"]
    assert re.search(rf"x \d+ seeds?: epoch {epochs}/{epochs}  val_accuracy", text)
    assert "\b" not in text  # 02 trains its initializers and seeds side by side: one line per epoch
    assert len(text.splitlines()) < 200, "the log floods the notebook"
    images = [
        o
        for outputs, _ in session["results"]
        for o in outputs
        if o["type"] == "display_data" and "image/png" in o["content"]["data"]
    ]
    assert len(images) == 3
    assert images[0]["content"]["metadata"]["labs"]["figure"] == "activations_at_init"


def test_figures_and_metrics_are_saved_from_the_interactive_run(session):
    out = session["out"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["dataset"]["synthetic"] is True
    for figure in metrics["figures"]:
        assert all((out / f).stat().st_size > 1000 for f in figure["files"])


def test_the_kernel_is_this_environments_python(session):
    outputs, _ = session["kernel"].execute("import sys; print(sys.prefix)")
    assert outputs[0]["content"]["text"].strip() == sys.prefix


def test_an_edited_parameter_is_checked_when_the_setup_cell_is_rerun(session):
    kernel = session["kernel"]
    kernel.execute("epochs = -1")
    outputs, reply = kernel.execute(
        'report = reporting.Report.start("02_initialization", globals())'
    )
    errors = [o["content"] for o in outputs if o["type"] == "error"]
    assert reply == "error" and "epochs must be an int in [1, 1000], got -1" in errors[0]["evalue"]


def test_a_student_version_runs_up_to_its_first_exercise(server, tmp_path):
    """The released 02 (labs exercises --profile smoke): every cell before the first test cell
    runs; that cell stops on the stub's NotImplementedError, the student's work to do."""
    from labs_tools import course

    course.write_student_versions([NOTEBOOK], tmp_path, runner.NOTEBOOKS_DIR, "smoke")
    nb = nbformat.read(str(tmp_path / f"{NOTEBOOK}.ipynb"), as_version=4)
    kernel = Kernel(server)
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            outputs, reply = kernel.execute(cell.source)
            if cell.metadata.get("nbgrader", {}).get("grade"):
                break
            assert reply == "ok", [o["content"] for o in outputs if o["type"] == "error"]
        errors = [o["content"] for o in outputs if o["type"] == "error"]
        assert reply == "error" and errors[0]["ename"] == "NotImplementedError"
        assert "raise NotImplementedError()" in nb.cells[nb.cells.index(cell) - 1].source
    finally:
        kernel.shutdown()


def test_the_server_stops_when_its_process_is_signalled(server, session):
    proc = server["proc"]
    os.kill(proc.pid, signal.SIGTERM)
    code = proc.wait(timeout=30)  # raises TimeoutExpired if the server does not stop
    assert code in (0, -signal.SIGTERM, 128 + signal.SIGTERM), (
        f"JupyterLab exited with {code} on SIGTERM"
    )
    with pytest.raises(OSError):
        get(f"{server['base']}/api/status", server["token"])
