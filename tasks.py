#!/usr/bin/env python3
"""Set up the project's virtual environment and run the main jobs; Python standard library only.

    python3.11 tasks.py reports [--gpu] [--no-pdf] [labs run options]   # set up .venv, regenerate
        the quick reports and their PDFs, then check them against notebooks/references.yaml; with
        --gpu: JAX on CUDA and the full profile
    python3.11 tasks.py test [pytest options]        # set up .venv (with dev + jax extras), run
        the tests
    python3.11 tasks.py setup [--gpu]                # only set up .venv (--gpu: with CUDA JAX)

PDFs need TeX and pandoc: run as root, `reports` installs them with apt-get; otherwise it stops
before running anything and prints the one command to run, unless given --no-pdf.

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
# one environment for every task: JAX for the second backend, Dask for clusters, dev for the tests
EXTRAS = "jax,dask,dev"
GPU_EXTRAS = "jax,dask,dev,cuda"  # --gpu: the CUDA 12 build of JAX (pyproject.toml's `cuda` extra)
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
    "texlive-plain-generic pandoc fonts-dejavu-core fonts-dejavu-extra"
)


def math_font_installed():
    """The reports' math font, from fonts-dejavu-extra (xelatex stops without it)."""
    return Path("/usr/share/fonts/truetype/dejavu/DejaVuMathTeXGyre.ttf").is_file()


def missing_tex():
    """What of TEX_INSTALL is not installed: xelatex, pandoc, the math font."""
    missing = [tool for tool in TEX_TOOLS if shutil.which(tool) is None]
    return missing + ([] if math_font_installed() else ["the DejaVu Math font"])


def pdf_args(skip=False):
    """['--pdf'] once xelatex and pandoc are there: installed with apt-get when run as root, else
    exits with the command to run. [] with skip (--no-pdf)."""
    if skip:
        say("PDF reports skipped (--no-pdf); make them later with .venv/bin/labs pdf")
        return []
    missing = missing_tex()
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"{', '.join(missing)} not installed: apt-get update && {TEX_INSTALL}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if not run(["apt-get", "update", "-qq"], env=env):
            run(TEX_INSTALL.split() + ["-qq"], env=env)
        missing = missing_tex()
    if missing:
        sys.exit(
            f"[tasks] the PDF reports need {', '.join(missing)}, which is not installed. Run "
            f"`sudo {TEX_INSTALL}` and this command again, or add --no-pdf to skip the PDFs."
        )
    return ["--pdf"]


def check_gpu():
    """Exit with what to check when the CUDA build of JAX sees no GPU."""
    probe = "import jax; print(','.join(sorted({d.platform for d in jax.devices()})))"
    found = subprocess.run(
        [str(BIN / "python"), "-c", probe], capture_output=True, text=True
    ).stdout.strip()
    if "gpu" not in found.split(","):
        sys.exit(
            f"[tasks] JAX sees no GPU (platforms: {found or 'none'}). Check `nvidia-smi`: the "
            "CUDA 12 wheels need an NVIDIA driver >= 525."
        )
    say(f"JAX sees the GPU ({found})")


def flag(args, name):
    """(whether name is in args, args without it)."""
    return name in args, [a for a in args if a != name]


def run(cmd, env=None):
    say(" ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env).returncode


def main(argv):
    task, args = (argv[0], argv[1:]) if argv else ("", [])
    if task not in TASKS:
        sys.exit(__doc__)
    gpu, args = flag(args, "--gpu") if task != "test" else (False, args)
    no_pdf, args = flag(args, "--no-pdf") if task == "reports" else (False, args)
    pdf = pdf_args(skip=no_pdf) if task == "reports" else []  # before anything is installed
    ensure_venv(GPU_EXTRAS if gpu else EXTRAS)
    if gpu:
        check_gpu()
    if task == "reports":
        profile = ["--profile", "full", "--backend", "jax"] if gpu else ["--profile", "quick"]
        return run([BIN / "labs", "run", *profile, "--check", *pdf, *args])
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
