"""One notebook's execution process, started ahead of its turn so that its kernel start and imports
overlap the notebook before it (the runner's warm start).

    python -m labs_tools.worker [--cold] INPUT OUTPUT PARAMETERS_JSON CWD

Starts a kernel of this environment in CWD and imports the notebook's modules into it
(`imports_of`), then waits for the line "go" on stdin and executes INPUT into OUTPUT with papermill
in that kernel; a failing cell exits 1, as `papermill` does, and so does a kernel that dies (noticed
within a second; the cause is the last line printed and an error in the cell that was running).
End of input before "go" (the runner stopped or was killed) shuts the kernel down and exits 3
without running anything; after "go" the runner keeps stdin open, and its end (the runner closed
it, or died) kills the kernel and exits 4. The notebook still runs in a kernel of its own: only
imports happen early. With --cold the kernel imports nothing ahead (`labs run --no-warm-start`: the
kernel starts at its turn).
"""

import asyncio
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from labs_tools import processes

NOT_STARTED = 3  # exit status when the runner never said "go"
RUNNER_GONE = 4  # exit status when the runner closed stdin (or died) while the notebook ran
KERNEL_START_TIMEOUT = 600  # seconds for the kernel to answer (a loaded machine is slow, not dead)


def imports_of(notebook_path):
    """The modules a notebook's code cells import at top level, in order (candidates:
    `from a import b` adds a.b)."""
    import ast

    names = []
    for cell in json.loads(Path(notebook_path).read_text()).get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse("".join(cell.get("source", "")))
        except SyntaxError:  # IPython magics: the notebook's own run will say what is wrong
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return list(dict.fromkeys(names))


# Imports `names` in the kernel without binding a name in its namespace, ignoring failures. With
# keras comes tensorflow when it is installed: keras.utils.set_random_seed imports it under every
# backend.
WARM_UP = """
def _labs_warm_up(names):
    import importlib, importlib.util, sys
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    if "keras" in sys.modules and importlib.util.find_spec("tensorflow") is not None:
        import tensorflow
_labs_warm_up({names!r})
del _labs_warm_up
"""


async def until_dead(km, every=1.0):
    """Return once the kernel of `km` has exited (checked every `every` seconds)."""
    while await km.is_alive():
        await asyncio.sleep(every)


async def warm_up(km, modules, timeout=300):
    """Import `modules` in the kernel of `km`, silently; an error there is left for the notebook's
    cells to show. Returns early if the kernel dies."""
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=timeout)
        code = WARM_UP.format(names=modules)
        importing = asyncio.ensure_future(
            kc.execute_interactive(
                code,
                silent=True,
                store_history=False,
                timeout=timeout,
                output_hook=lambda msg: None,
            )
        )
        dead = asyncio.ensure_future(until_dead(km))
        await asyncio.wait({importing, dead}, return_when=asyncio.FIRST_COMPLETED)
        for task in (importing, dead):
            task.cancel()
    finally:
        kc.stop_channels()


def mark_death(output_path, death):
    """Add `death` as an error to the cell that was running in the executed notebook papermill left
    (the last one it reached), so the notebook and the run's message say why it stopped."""
    import nbformat

    from labs_lib.shared.files import atomic_write

    nb = nbformat.read(output_path, as_version=4)
    reached = [c for c in nb.cells if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not reached:
        return
    cell = reached[-1]
    cell.outputs.append(
        nbformat.v4.new_output(
            "error", ename="DeadKernelError", evalue=death, traceback=[f"DeadKernelError: {death}"]
        )
    )
    cell.metadata["papermill"].update(status="failed", exception=True)
    nb.metadata.setdefault("papermill", {})["exception"] = True
    atomic_write(output_path, nbformat.writes(nb))


def watch_runner(kernel):
    """Stop the kernel and exit (RUNNER_GONE) once stdin reaches its end: the runner closed it, or
    died (even killed outright: the pipe closes with it)."""

    def watch():
        sys.stdin.read()
        try:
            os.killpg(kernel.pid, signal.SIGKILL)  # the kernel runs in a session (group) of its own
        except OSError:
            pass
        os._exit(RUNNER_GONE)

    threading.Thread(target=watch, daemon=True).start()


def execute(input_path, output_path, parameters, cwd, km, kernel):
    """Execute the notebook with papermill in the kernel of `km`; 0, or 1 when a cell failed or the
    kernel died (then said on the last line, and in the notebook)."""
    import papermill

    try:
        papermill.execute_notebook(
            input_path,
            output_path,
            parameters=json.loads(parameters),
            kernel_name="python3",
            km=km,
            cwd=cwd,
            progress_bar=False,
            start_timeout=KERNEL_START_TIMEOUT,
        )
    except Exception:
        death = processes.kernel_death(kernel)
        if not death:
            raise
        if Path(output_path).exists():
            mark_death(output_path, death)
        print(death, flush=True)
        return 1
    return 0


def main(argv):
    # --cold: no warm-up, the kernel imports nothing before the notebook's cells
    cold = argv[:1] == ["--cold"]
    input_path, output_path, parameters, cwd = argv[1:] if cold else argv
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    logging.getLogger("papermill").setLevel(logging.ERROR)  # as `papermill --log-level ERROR`

    # asynchronous, so that nbclient notices a dead kernel within a second while a cell runs
    km = AsyncKernelManager(kernel_name="python3")
    run_sync(km.start_kernel)(cwd=cwd)
    kernel = km.provisioner.process  # the kernel's Popen: its exit code says how it ended
    try:
        try:
            if not cold:
                run_sync(warm_up)(km, imports_of(input_path))
        except Exception as exc:  # noqa: BLE001 - the notebook runs anyway and shows the real error
            print(
                f"warm-up failed ({type(exc).__name__}: {exc}); running the notebook anyway",
                flush=True,
            )
        if sys.stdin.readline().strip() != "go":
            return NOT_STARTED
        watch_runner(kernel)
        return execute(input_path, output_path, parameters, cwd, km, kernel)
    finally:
        run_sync(km.shutdown_kernel)(now=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
