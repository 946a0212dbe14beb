#!/usr/bin/env python3
"""Set up the project's virtual environment and run the main jobs; Python standard library only.

    python3.11 tasks.py reports [labs run options]   # set up .venv, regenerate the quick reports
        (and PDFs), then check them against notebooks/references.yaml
    python3.11 tasks.py test [pytest options]        # set up .venv (with dev + jax extras), run
        the tests
    python3.11 tasks.py setup                        # only set up .venv

The environment is .venv/ at the project root ($LABS_VENV to move it); it is (re)installed when
pyproject.toml changes.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("LABS_VENV", ROOT / ".venv"))
BIN = VENV / "bin"
TASKS = ("reports", "test", "setup")
EXTRAS = "jax,dev"  # one environment for every task: JAX for the second backend, dev for the tests
# Backend-sensitive unit tests, run a second time under JAX (the notebook tests cover both already).
JAX_UNIT_TESTS = [
    "tests/test_models.py",
    "tests/test_training.py",
    "tests/test_diagnostics.py",
    "tests/test_regularization.py",
    "tests/test_layers.py",
    "tests/test_loops.py",
]


def say(message):
    print(f"[tasks] {message}", flush=True)


def ensure_venv(extras):
    """Create .venv and install the project with `extras`, unless it is already up to date."""
    if sys.version_info[:2] not in ((3, 11), (3, 12)):
        version = sys.version.split()[0]
        sys.exit(f"tasks.py needs Python 3.11 or 3.12, got {version}: run it with python3.11")
    stamp = VENV / ".labs-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        say(f"creating {VENV}")
        result = subprocess.run([sys.executable, "-m", "venv", str(VENV)])
        if result.returncode:
            sys.exit(
                "could not create the virtual environment; "
                "on Debian: apt-get install python3.11-venv"
            )
    say(f"installing dl-labs[{extras}] into {VENV} (a few minutes the first time)")
    subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            f"{ROOT}[{extras}]",
        ],
        check=True,
    )
    stamp.write_text(wanted)


# What `labs pdf` needs (labs_tools.pdf says the same when they are missing).
TEX_TOOLS = ("xelatex", "pandoc")
TEX_INSTALL = (
    "apt-get install -y --no-install-recommends texlive-xetex texlive-fonts-recommended "
    "texlive-plain-generic pandoc fonts-dejavu-core"
)


def pdf_args():
    """['--pdf'] when xelatex and pandoc are installed; else [] and a line saying what to
    install."""
    missing = [tool for tool in TEX_TOOLS if shutil.which(tool) is None]
    if not missing:
        return ["--pdf"]
    say(
        f"PDF reports skipped: {', '.join(missing)} not installed. "
        f"To get them: {TEX_INSTALL}; then .venv/bin/labs pdf"
    )
    return []


def run(cmd, env=None):
    say(" ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env).returncode


def main(argv):
    task, args = (argv[0], argv[1:]) if argv else ("", [])
    if task not in TASKS:
        sys.exit(__doc__)
    ensure_venv(EXTRAS)
    if task == "reports":
        return run([BIN / "labs", "run", "--profile", "quick", "--check", *pdf_args(), *args])
    if task == "test":
        code = run([BIN / "python", "-m", "pytest", *args])
        if code == 0 and not args:
            code = run(
                [BIN / "python", "-m", "pytest", "-q", *JAX_UNIT_TESTS],
                env=dict(os.environ, KERAS_BACKEND="jax"),
            )
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
