"""tasks.py, the README's one-command entry points: PDFs from the first command (TeX installed
as root, else a stop before anything runs with the line to run) and the --gpu set-up."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
tasks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tasks)


@pytest.fixture
def machine(monkeypatch):
    """A fake machine: which tools exist, whether we are root; records every command run."""
    state = type("Machine", (), {})()
    state.tools, state.root, state.commands = {"apt-get"}, False, []

    def fake_run(cmd, env=None):
        state.commands.append([str(c) for c in cmd])
        if cmd[:2] == ["apt-get", "install"]:
            state.tools |= {"xelatex", "pandoc", "math font"}
        return 0

    monkeypatch.setattr(
        tasks.shutil, "which", lambda t: f"/usr/bin/{t}" if t in state.tools else None
    )
    monkeypatch.setattr(tasks, "math_font_installed", lambda: "math font" in state.tools)
    monkeypatch.setattr(tasks.os, "geteuid", lambda: 0 if state.root else 1000)
    monkeypatch.setattr(tasks, "run", fake_run)
    monkeypatch.setattr(
        tasks, "ensure_venv", lambda extras: state.commands.append(["venv", extras])
    )
    monkeypatch.setattr(tasks, "check_gpu", lambda: state.commands.append(["check_gpu"]))
    return state


def test_pdfs_are_made_when_tex_is_installed(machine):
    machine.tools |= {"xelatex", "pandoc", "math font"}
    assert tasks.pdf_args() == ["--pdf"] and machine.commands == []


def test_as_root_the_tex_packages_are_installed_with_apt_get(machine):
    machine.root = True
    assert tasks.pdf_args() == ["--pdf"]
    assert machine.commands[0] == ["apt-get", "update", "-qq"]
    install = machine.commands[1]
    assert install[:4] == ["apt-get", "install", "-y", "--no-install-recommends"]
    assert {"texlive-xetex", "pandoc", "fonts-dejavu-core", "fonts-dejavu-extra"} <= set(install)


def test_without_root_it_stops_before_installing_or_running_with_the_line_to_run(machine):
    with pytest.raises(SystemExit) as stop:
        tasks.main(["reports"])
    message = str(stop.value)
    assert "the PDF reports need xelatex, pandoc" in message
    assert f"`sudo {tasks.TEX_INSTALL}`" in message and "--no-pdf" in message
    assert machine.commands == []  # no venv built, no notebook run


def test_tex_without_the_math_font_is_not_enough(machine):
    # found on a fresh Debian machine: xelatex stopped at the report's \setmathfont{DejaVu Math TeX
    # Gyre}, which fonts-dejavu-core lacks
    machine.tools |= {"xelatex", "pandoc"}
    with pytest.raises(SystemExit) as stop:
        tasks.main(["reports"])
    assert "the PDF reports need the DejaVu Math font" in str(stop.value)
    assert machine.commands == []


def test_no_pdf_runs_the_quick_pack_without_pdfs(machine, capsys):
    assert tasks.main(["reports", "--no-pdf", "--jobs", "2"]) == 0
    assert machine.commands[0] == ["venv", tasks.EXTRAS]
    labs = machine.commands[-1]
    assert labs[1:] == ["run", "--profile", "quick", "--check", "--jobs", "2"]
    assert "PDF reports skipped (--no-pdf)" in capsys.readouterr().out


def test_gpu_installs_cuda_jax_checks_the_gpu_and_runs_the_full_pack_on_jax(machine):
    machine.tools |= {"xelatex", "pandoc", "math font"}
    assert tasks.main(["reports", "--gpu", "--gpus", "0,1", "--jobs", "2"]) == 0
    assert machine.commands[:2] == [["venv", tasks.GPU_EXTRAS], ["check_gpu"]]
    labs = machine.commands[-1]
    assert labs[1:] == [
        "run", "--profile", "full", "--backend", "jax", "--check", "--pdf",
        "--gpus", "0,1", "--jobs", "2",
    ]  # fmt: skip
    assert "cuda" in tasks.GPU_EXTRAS.split(",")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'cuda = ["jax[cuda12]~=0.10.2"]' in pyproject  # the extra --gpu installs


def test_setup_with_gpu_only_builds_the_environment(machine):
    assert tasks.main(["setup", "--gpu"]) == 0
    assert machine.commands == [["venv", tasks.GPU_EXTRAS], ["check_gpu"]]
