"""The `labs` command layer (labs_tools/cli.py): the parser and its defaults, the refusals of
`main`, `labs list`, the JupyterLab command line, which executed notebooks `labs pdf` typesets, and
the gallery. No kernel starts here: running notebooks is tests/test_runner.py's subject, and the run
command's refusals of bad values (--jobs, --timeout, --backend, notebooks, -p) are tested there."""

import io
import re
import shutil
import sys
from pathlib import Path

import pytest

from labs_tools import cli, gallery, pdf, runner

PROFILES = {
    "smoke": "aa_ok:\n  n: 2\n  sleep: 0.5\n",
    "quick": "aa_ok:\n  n: 10\n",
    "full": "aa_ok:\n  n: 100\n",
}


@pytest.fixture
def pack(nbmaker, tmp_path):
    """Notebooks aa_ok (with values in every profile) and bb_ok (in none), never executed."""
    return nbmaker.pack(tmp_path / "pack", names=("aa_ok", "bb_ok"), profiles=PROFILES)


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


def refused(capsys, argv):
    """main(argv)'s exit status and its one-line error, checked to be the usage-error form."""
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("labs: error: ") and captured.err.count("\n") == 1
    assert captured.out == ""
    return captured.err


def executed(folder, pack, *names):
    """Put copies of the pack's notebooks where `labs run` leaves executed ones:
    folder/<name>/<name>.ipynb."""
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(pack / f"{name}.ipynb", folder / name / f"{name}.ipynb")
    return [folder / name / f"{name}.ipynb" for name in names]


# ---------------------------------------------------------------- the parser


def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["list"], {"command": "list"}),
        (
            ["run"],
            {
                "command": "run",
                "notebooks": [],
                "profile": "quick",
                "overrides": [],
                "jobs": 1,
                "out": None,
                "timeout": None,
                "resume": False,
                "warm_start": True,
                "pdf": False,
            },
        ),
        (
            ["pdf"],
            {
                "command": "pdf",
                "notebooks": [],
                "out": None,
                "with_code": False,
                "paper": "a4",
                "pack": False,
            },
        ),
        (["gallery"], {"command": "gallery", "out": None}),
        (["lab"], {"command": "lab", "ip": "127.0.0.1", "port": 8888}),
    ],
)
def test_each_subcommand_parses_with_its_defaults(argv, expected):
    args = parse(*argv)
    assert {key: getattr(args, key) for key in expected} == expected
    assert args.notebooks_dir == runner.NOTEBOOKS_DIR


@pytest.mark.parametrize("command", ["run", "lab"])
@pytest.mark.parametrize("env, backend", [(None, "tensorflow"), ("jax", "jax")])
def test_the_default_backend_is_keras_backend_or_tensorflow(command, env, backend, monkeypatch):
    if env is None:
        monkeypatch.delenv("KERAS_BACKEND", raising=False)
    else:
        monkeypatch.setenv("KERAS_BACKEND", env)
    assert parse(command).backend == backend


def test_run_options_are_parsed_into_their_types(tmp_path):
    args = parse(
        "--notebooks-dir",
        str(tmp_path),
        "run",
        "02",
        "03_activations",
        "--profile",
        "smoke",
        "-p",
        "epochs=5",
        "-p",
        "initializers=he_normal,glorot_normal",
        "--backend",
        "jax",
        "--jobs",
        "2",
        "--out",
        "somewhere",
        "--timeout",
        "0",
        "--resume",
        "--no-warm-start",
        "--pdf",
    )
    assert args.notebooks_dir == tmp_path and isinstance(args.notebooks_dir, Path)
    assert args.notebooks == ["02", "03_activations"]
    assert args.overrides == ["epochs=5", "initializers=he_normal,glorot_normal"]
    assert (args.profile, args.backend, args.jobs, args.timeout) == ("smoke", "jax", 2, 0.0)
    assert args.out == Path("somewhere")
    assert args.resume and not args.warm_start and args.pdf


def test_overrides_do_not_leak_from_one_parse_into_the_next():
    parser = cli.build_parser()
    assert parser.parse_args(["run", "-p", "n=1"]).overrides == ["n=1"]
    assert parser.parse_args(["run"]).overrides == []


def test_pdf_and_lab_options_are_parsed():
    args = parse("pdf", "02", "x.ipynb", "--with-code", "--paper", "letter", "--pack", "--out", "r")
    assert args.notebooks == ["02", "x.ipynb"] and args.out == Path("r")
    assert args.with_code and args.pack and args.paper == "letter"
    lab = parse("lab", "--ip", "0.0.0.0", "--port", "9000", "--backend", "jax")
    assert (lab.ip, lab.port, lab.backend) == ("0.0.0.0", 9000, "jax")


@pytest.mark.parametrize("argv", [[], ["serve"], ["lab", "--port", "http"]])
def test_a_missing_or_unknown_subcommand_or_a_non_numeric_port_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage: labs" in capsys.readouterr().err


def test_help_lists_every_subcommand_and_the_examples(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("list", "run", "pdf", "gallery", "lab"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), f"{command} missing:\n{out}"
    assert "labs run 02_initialization --profile smoke" in out


# ---------------------------------------------------------------- refusals: exit 2, one line


@pytest.fixture
def no_jupyterlab(monkeypatch):
    """subprocess.call fails the test: a refused `labs lab` must not start anything."""

    def call(*args, **kwargs):
        raise AssertionError(f"subprocess.call ran: {args}")

    monkeypatch.setattr(cli.subprocess, "call", call)


@pytest.mark.parametrize(
    "argv, pieces",
    [
        (["lab", "--port", "0"], ["--port must be in [1, 65535]", "got 0"]),
        (["lab", "--port", "65536"], ["--port must be in [1, 65535]", "got 65536"]),
        (["lab", "--port", "-80"], ["got -80"]),
        (["lab", "--backend", "torch"], ["backend must be one of {tensorflow, jax}", "'torch'"]),
    ],
)
def test_lab_refuses_a_bad_port_or_backend_before_starting_anything(
    argv, pieces, pack, capsys, no_jupyterlab
):
    err = refused(capsys, ["--notebooks-dir", str(pack), *argv])
    for piece in pieces:
        assert piece in err, f"{piece!r} not in {err!r}"


def test_run_refuses_an_infinite_timeout(pack, tmp_path, capsys):
    out = tmp_path / "out"
    err = refused(
        capsys,
        ["--notebooks-dir", str(pack), "run", "--timeout", "inf", "--out", str(out)],
    )
    assert "--timeout must be a number of seconds >= 0, got inf" in err
    assert not out.exists()


def test_pdf_refuses_a_paper_size_before_looking_for_latex(pack, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pdf, "missing_tools", lambda: ["xelatex", "pandoc"])
    err = refused(capsys, ["--notebooks-dir", str(pack), "pdf", "--paper", "a3"])
    assert "paper must be one of {a4, letter}, got 'a3'" in err
    assert "xelatex" not in err


def test_gallery_refuses_a_missing_folder_and_does_not_create_it(pack, tmp_path, capsys):
    missing = tmp_path / "no" / "reports"
    err = refused(capsys, ["--notebooks-dir", str(pack), "gallery", "--out", str(missing)])
    assert str(missing) in err and "does not exist" in err and "labs run" in err
    assert not (tmp_path / "no").exists()


# ---------------------------------------------------------------- labs list


def test_list_shows_each_notebook_its_parameters_and_every_profiles_value(pack):
    before = snapshot(pack)
    buffer = io.StringIO()
    assert cli.cmd_list(parse("--notebooks-dir", str(pack), "list"), out=buffer) == 0
    out = buffer.getvalue()
    aa, bb = out[out.index("\naa_ok: ") : out.index("\nbb_ok: ")], out[out.index("\nbb_ok: ") :]
    assert aa.startswith("\naa_ok: Test notebook aa_ok\n")
    assert bb.startswith("\nbb_ok: Test notebook bb_ok\n")
    for block in (aa, bb):
        for line in (
            "  profile: str = 'full'\n      profile label; one of {smoke, quick, full, custom}\n",
            "  n: int = 3\n      points to plot; an int in [1, 100]\n",
            "  fail: bool = False\n      raise an error in the last cell; a bool\n",
            "  sleep: float = 0.0\n",
            "  out_dir: str = ''\n",
        ):
            assert line in block, f"{line!r} missing from:\n{block}"
    assert "      profiles: smoke=2, quick=10, full=100\n" in aa
    assert "      profiles: smoke=0.5\n" in aa
    assert "profiles:" not in bb  # no profile sets bb_ok's values
    assert snapshot(pack) == before  # listing writes nothing


def test_list_works_without_profile_files_and_prints_to_stdout(nbmaker, tmp_path, capsys):
    bare = nbmaker.pack(tmp_path / "bare", names=("only",), profiles={})
    assert cli.main(["--notebooks-dir", str(bare), "list"]) == 0
    out = capsys.readouterr().out
    assert "only: Test notebook only" in out and "  n: int = 3" in out
    assert "profiles:" not in out


# ---------------------------------------------------------------- labs run: arguments to the runner


@pytest.fixture
def fake_run(monkeypatch):
    """runner.run replaced: records (jobs, options) and reports every job as ok; no kernel
    starts."""
    calls = []

    def run(jobs, opts, stream=None):
        calls.append((jobs, opts))
        return [runner.Result(job.name, "ok") for job in jobs]

    monkeypatch.setattr(runner, "run", run)
    return calls


@pytest.mark.parametrize(
    "extra, timeout",
    [([], runner.DEFAULT_TIMEOUT["smoke"]), (["--timeout", "0"], 0.0), (["--timeout", "42"], 42)],
)
def test_run_hands_the_planned_jobs_and_options_to_the_runner(
    extra, timeout, pack, tmp_path, fake_run, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    args = parse(
        "--notebooks-dir",
        str(pack),
        "run",
        "aa",
        "--profile",
        "smoke",
        "--backend",
        "tensorflow",
        "--jobs",
        "3",
        "--out",
        "rel",
        "--no-warm-start",
        *extra,
    )
    buffer = io.StringIO()
    assert cli.cmd_run(args, out=buffer) == 0
    ((jobs, opts),) = fake_run
    assert [job.name for job in jobs] == ["aa_ok"]
    assert jobs[0].params == {"n": 2, "sleep": 0.5, "profile": "smoke"}
    assert opts == runner.RunOptions(
        profile="smoke",
        backend="tensorflow",
        out=tmp_path / "rel",  # resolved against the working directory
        jobs=3,
        timeout=timeout,
        resume=False,
        warm_start=False,
    )
    text = buffer.getvalue()
    assert text.startswith("labs run: 1 notebook, profile smoke, backend tensorflow, output in ")
    assert "aa_ok" in text  # the summary table


def test_reports_folder_defaults_to_reports_at_the_project_root(monkeypatch, tmp_path):
    assert cli.reports_folder(parse("pdf")) == (runner.PROJECT_ROOT / "reports").resolve()
    monkeypatch.chdir(tmp_path)
    assert cli.reports_folder(parse("gallery", "--out", "x")) == tmp_path / "x"


# ---------------------------------------------------------------- labs lab


@pytest.mark.parametrize("euid, allow_root", [(0, True), (1000, False)])
def test_lab_command_adds_allow_root_only_as_root(euid, allow_root, monkeypatch, tmp_path):
    monkeypatch.setattr(cli.os, "geteuid", lambda: euid, raising=False)
    cmd = cli.lab_command(tmp_path, "127.0.0.1", 8888, "abc")
    assert ("--allow-root" in cmd) is allow_root


def test_lab_command_sets_port_ip_token_and_the_notebooks_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb").mkdir()
    cmd = cli.lab_command("nb", "0.0.0.0", 9123, "f00d")
    assert cmd[:4] == [sys.executable, "-m", "jupyterlab", "--no-browser"]
    for option in (
        "--ip=0.0.0.0",
        "--port=9123",
        "--ServerApp.port_retries=0",  # a busy port is an error, not another port
        "--IdentityProvider.token=f00d",
        f"--ServerApp.root_dir={tmp_path / 'nb'}",  # absolute
        f"--LabApp.app_settings_dir={cli.LAB_SETTINGS}",  # no pop-up about Jupyter's news
    ):
        assert option in cmd, f"{option} not in {cmd}"


def test_lab_prints_the_url_with_a_fresh_token_and_starts_jupyterlab(pack, monkeypatch, capsys):
    calls = []

    class Server:  # stands for the JupyterLab process: exits 0 at once
        def __init__(self, cmd, env, **options):
            calls.append((cmd, env))
            assert options["start_new_session"]  # the terminal's signals reach `labs lab` only

        def wait(self):
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", Server)
    argv = ["--notebooks-dir", str(pack), "lab", "--port", "9321", "--backend", "tensorflow"]
    assert cli.main(argv) == 0 and cli.main(argv) == 0
    out = capsys.readouterr().out
    tokens = []
    for cmd, env in calls:
        (token,) = [c.split("=", 1)[1] for c in cmd if c.startswith("--IdentityProvider.token=")]
        assert re.fullmatch(r"[0-9a-f]{32}", token)
        assert f"http://127.0.0.1:9321/lab?token={token}" in out
        assert env["KERAS_BACKEND"] == "tensorflow"
        tokens.append(token)
    assert tokens[0] != tokens[1]
    assert f"JupyterLab on {pack.resolve()}" in out


# ---------------------------------------------------------------- labs pdf: what gets typeset


def test_executed_notebooks_refuses_when_nothing_was_run(pack, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    with pytest.raises(pdf.PdfError, match="no executed notebooks in .*labs run --profile quick"):
        cli.executed_notebooks([], folder, pack)


def test_executed_notebooks_are_every_run_one_in_pack_order(pack, tmp_path):
    folder = tmp_path / "reports"
    (folder / "aa_ok").mkdir(parents=True)  # a folder without its notebook does not count
    paths = executed(folder, pack, "bb_ok")
    assert cli.executed_notebooks([], folder, pack) == paths
    paths = executed(folder, pack, "aa_ok") + paths
    assert cli.executed_notebooks([], folder, pack) == paths


def test_executed_notebooks_named_by_prefix_or_path(pack, tmp_path):
    folder = tmp_path / "reports"
    (ran,) = executed(folder, pack, "bb_ok")
    elsewhere = executed(tmp_path / "elsewhere", pack, "aa_ok")[0]
    assert cli.executed_notebooks(["bb", str(elsewhere)], folder, pack) == [ran, elsewhere]
    with pytest.raises(pdf.PdfError, match="aa_ok has not been run into .*labs run aa_ok first"):
        cli.executed_notebooks(["aa"], folder, pack)
    with pytest.raises(runner.UsageError, match="'zz' is not a notebook of the pack"):
        cli.executed_notebooks(["zz"], folder, pack)


def test_pdf_without_latex_says_what_to_install_and_writes_nothing(
    pack, tmp_path, capsys, monkeypatch
):
    folder = tmp_path / "reports"
    executed(folder, pack, "aa_ok")
    before = snapshot(folder)
    monkeypatch.setattr(pdf.shutil, "which", lambda tool: None)
    err = refused(capsys, ["--notebooks-dir", str(pack), "pdf", "--out", str(folder)])
    assert "PDF reports need xelatex, pandoc" in err and "are not installed" in err
    assert f"on Debian or Ubuntu: {pdf.INSTALL_HINT}" in err
    assert snapshot(folder) == before


def test_one_missing_tool_is_named_alone(pack, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pdf, "missing_tools", lambda: ["pandoc"])
    err = refused(capsys, ["--notebooks-dir", str(pack), "pdf", "--out", str(tmp_path)])
    assert "PDF reports need pandoc, which is not installed; on Debian or Ubuntu: apt-get" in err


@pytest.fixture
def fake_latex(monkeypatch):
    """The LaTeX route replaced by recorders: {"notebook": [paths], "pack": [(paths, dest)]}."""
    made = {"notebook": [], "pack": []}
    monkeypatch.setattr(pdf, "check_tools", lambda: None)
    monkeypatch.setattr(pdf, "read_executed", lambda path: None)

    def notebook_pdf(path, with_code=False, paper="a4"):
        made["notebook"].append((path, with_code, paper))
        return path.with_suffix(".pdf")

    def pack_pdf(paths, dest, with_code=False, paper="a4"):
        made["pack"].append((list(paths), dest))
        return dest

    monkeypatch.setattr(pdf, "notebook_pdf", notebook_pdf)
    monkeypatch.setattr(pdf, "pack_pdf", pack_pdf)
    return made


@pytest.mark.parametrize(
    "named, typeset, pack_made",
    [
        ([], ("aa_ok", "bb_ok"), True),  # the whole folder: and the pack's PDF
        (["aa"], ("aa_ok",), False),
        (["aa", "--pack"], ("aa_ok",), True),
        (["bb", "aa"], ("bb_ok", "aa_ok"), False),
    ],
)
def test_pdf_makes_the_pack_pdf_for_the_whole_folder_or_with_pack(
    named, typeset, pack_made, pack, tmp_path, fake_latex, capsys
):
    folder = (tmp_path / "reports").resolve()
    executed(folder, pack, "aa_ok", "bb_ok")
    argv = ["--notebooks-dir", str(pack), "pdf", *named, "--out", str(folder), "--paper", "letter"]
    assert cli.main(argv) == 0
    wanted = [folder / name / f"{name}.ipynb" for name in typeset]
    assert fake_latex["notebook"] == [(p, False, "letter") for p in wanted]
    assert fake_latex["pack"] == ([(wanted, folder / gallery.PACK_PDF)] if pack_made else [])
    out = capsys.readouterr().out
    assert out.count("labs pdf: ") == len(wanted) + pack_made
    assert f"gallery: {folder / 'index.html'}" in out  # the gallery then links the PDFs


def test_pdf_of_a_notebook_outside_the_reports_folder_makes_no_pack(
    pack, tmp_path, fake_latex, capsys
):
    (elsewhere,) = executed(tmp_path / "elsewhere", pack, "aa_ok")
    folder = tmp_path / "reports"
    folder.mkdir()
    argv = ["--notebooks-dir", str(pack), "pdf", str(elsewhere), "--pack", "--out", str(folder)]
    assert cli.main(argv) == 0
    assert [p for p, *_ in fake_latex["notebook"]] == [elsewhere.resolve()]
    assert fake_latex["pack"] == []


# ---------------------------------------------------------------- the gallery


def test_write_gallery_writes_both_pages_into_an_existing_folder(pack, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    buffer = io.StringIO()
    cli.write_gallery(folder, pack, buffer)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "index.html"]
    page = (folder / "index.html").read_text()
    assert "aa_ok" in page and "bb_ok" in page and "not run" in page
    assert "aa_ok" in (folder / "README.md").read_text()
    assert buffer.getvalue() == f"gallery: {folder / 'index.html'}\n"


def test_write_gallery_leaves_a_missing_folder_alone(pack, tmp_path):
    buffer = io.StringIO()
    cli.write_gallery(tmp_path / "missing", pack, buffer)
    assert not (tmp_path / "missing").exists() and buffer.getvalue() == ""


def test_gallery_command_rewrites_the_pages_of_an_existing_folder(pack, tmp_path, capsys):
    folder = tmp_path / "reports"
    executed(folder, pack, "aa_ok")
    assert cli.main(["--notebooks-dir", str(pack), "gallery", "--out", str(folder)]) == 0
    assert (folder / "index.html").is_file() and (folder / "README.md").is_file()
    assert "gallery: " in capsys.readouterr().out
