"""One notebook's execution process, started ahead of its turn so that its kernel start and imports
overlap the notebook before it (the runner's warm start).

    python -m labs_tools.worker [--cold] INPUT OUTPUT PARAMETERS_JSON CWD

Starts a kernel of this environment in CWD and imports the notebook's modules into it
(`imports_of`), then waits for the line "go" on stdin and executes INPUT into OUTPUT with papermill
in that kernel; a failing cell exits 1, as `papermill` does. End of input before "go" (the runner
stopped or was killed) shuts the kernel down and exits 3 without running anything. The notebook
still runs in a kernel of its own: only imports happen early. With --cold the kernel imports
nothing ahead (`labs run --no-warm-start`: the kernel starts at its turn).
"""

import json
import logging
import sys
from pathlib import Path

NOT_STARTED = 3  # exit status when the runner never said "go"


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


def warm_up(km, modules, timeout=300):
    """Import `modules` in the kernel of `km`, silently; an error there is left for the notebook's
    cells to show."""
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=timeout)
        kc.execute_interactive(
            WARM_UP.format(names=modules),
            silent=True,
            store_history=False,
            timeout=timeout,
            output_hook=lambda msg: None,
        )
    finally:
        kc.stop_channels()


def main(argv):
    # --cold: no warm-up, the kernel imports nothing before the notebook's cells
    cold = argv[:1] == ["--cold"]
    input_path, output_path, parameters, cwd = argv[1:] if cold else argv
    import papermill
    from jupyter_client.manager import KernelManager

    logging.getLogger("papermill").setLevel(logging.ERROR)  # as `papermill --log-level ERROR`

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=cwd)
    try:
        try:
            if not cold:
                warm_up(km, imports_of(input_path))
        except Exception as exc:  # noqa: BLE001 - the notebook runs anyway and shows the real error
            print(
                f"warm-up failed ({type(exc).__name__}: {exc}); running the notebook anyway",
                flush=True,
            )
        if sys.stdin.readline().strip() != "go":
            return NOT_STARTED
        papermill.execute_notebook(
            input_path,
            output_path,
            parameters=json.loads(parameters),
            kernel_name="python3",
            km=km,
            cwd=cwd,
            progress_bar=False,
        )
        return 0
    finally:
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
