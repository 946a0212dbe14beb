"""One submission's grading process: python -m labs_tools.grade_worker INPUT OUTPUT PARAMETERS CWD.

Injects PARAMETERS (JSON) into the parameters cell as papermill does, then executes every cell with
nbclient, going on after an error (`allow_errors`, as `nbgrader autograde` does) and writing the
notebook to OUTPUT after each cell, so a run stopped by a timeout or a crash leaves what it reached.
Stream outputs over MAX_STREAM_CHARS per cell are cut (a cell that prints floods).
"""

import json
import sys

import nbformat

from labs_tools import processes

MAX_STREAM_CHARS = 20_000


def cap_streams(cell):
    """Cut a cell's stream outputs to MAX_STREAM_CHARS in all, saying so."""
    left = MAX_STREAM_CHARS
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text = out.get("text", "")
            if len(text) > left:
                out["text"] = text[:left] + "\n[output cut by labs grade]\n"
            left = max(0, left - len(text))


def main(argv):
    input_path, output_path, parameters, cwd = argv
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from labs_lib.shared.files import atomic_write
    from labs_tools.course import parameterized

    nb = parameterized(nbformat.read(input_path, as_version=4), json.loads(parameters))

    def save(cell=None, **_):
        if cell is not None:
            cap_streams(cell)
        atomic_write(output_path, nbformat.writes(nb))

    kernel = {}  # the kernel's process, kept to say how it ended if it dies

    def remember_kernel(**_):
        kernel.setdefault("process", getattr(client.km.provisioner, "process", None))

    client = NotebookClient(
        nb,
        kernel_name="python3",
        allow_errors=True,
        timeout=None,
        resources={"metadata": {"path": cwd}},
        on_cell_start=remember_kernel,
        on_cell_executed=save,
    )
    save()
    try:
        client.execute()
    except DeadKernelError:
        save()
        death = processes.kernel_death(kernel.get("process")) or "the kernel died"
        sys.stderr.write(f"{death}\n")
        return 1
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
