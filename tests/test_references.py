"""notebooks/references.yaml, labs_lib.references and `labs check`: every kind of check fails on a
doctored metrics.json with a message naming the check, the range and the value; exit codes."""

import json
import math
import re
import subprocess
import sys

import pytest

from labs_lib import references
from labs_tools import check, runner

REFS = references.load()


def metrics_02(profile="quick", changes=None):
    """A 02_initialization metrics.json as a quick run writes it, with `changes` to table cells:
    {(initializer, column): value}."""
    rows = [
        {"initializer": "zeros", "val_loss_at_init": 2.302585, "train_loss": 2.3019},
        {"initializer": "ones", "val_loss_at_init": 2.302585, "train_loss": 2e4},
        {"initializer": "he_normal", "val_loss_at_init": 2.39, "train_loss": 0.06},
    ]
    for (initializer, column), value in (changes or {}).items():
        next(r for r in rows if r["initializer"] == initializer)[column] = value
    return {
        "notebook": "02_initialization",
        "profile": profile,
        "parameters": {"seed": 0, "seeds": 3},
        "differs_from_full": {},
        "tables": {
            "final_losses": {"caption": "Loss", "columns": [], "rows": rows},
            "init_std": {"rows": [{"initializer": "he_normal", "layer": "hidden_1", "z": 0.4}]},
        },
        "values": {"gradient_check": {"relative_difference": 2e-7}},
    }


def ref(**fields):
    """A Reference on 02's final_losses, zeros row, val_loss_at_init: ln 10 +- 1e-4 (invariant)."""
    base = dict(
        notebook="02_initialization",
        id="zeros_loss_at_init",
        what="validation loss before training, all-zero weights",
        kind="invariant",
        profiles=("smoke", "quick", "full"),
        low=math.log(10) - 1e-4,
        high=math.log(10) + 1e-4,
        source="derived",
        tolerance="float32",
        table="final_losses",
        where={"initializer": "zeros"},
        column="val_loss_at_init",
        centred=True,
    )
    return references.Reference(**{**base, **fields})


def test_the_references_file_is_valid_and_covers_every_notebook():
    assert set(REFS) == set(runner.discover())
    for notebook, refs in REFS.items():
        assert refs, f"{notebook} has no reference"
        for r in refs:
            assert r.tolerance.strip() and r.source.strip(), r.name


def test_every_published_value_cites_a_source_and_every_measured_range_its_runs():
    for r in (r for refs in REFS.values() for r in refs):
        if r.kind == "published":
            cited = re.search(r"\b(19|20)\d\d\b|\w\.py\b|https?://", r.source)  # year or file
            assert cited, (r.name, r.source)
            assert r.profiles == ("full",), f"{r.name}: published values are checked on full only"
        if r.kind == "measured":
            assert {"date", "backend", "commit"} <= set(r.measured), f"{r.name}: no provenance"
            assert not math.isinf(r.low) and not math.isinf(r.high), r.name


def test_every_smoke_check_is_an_exact_invariant():
    smoke = [r for refs in REFS.values() for r in refs if "smoke" in r.profiles]
    assert smoke and all(r.kind == "invariant" for r in smoke)


def test_a_value_in_range_passes():
    result = references.evaluate(ref(), metrics_02())
    assert result.status == "pass" and result.got == "2.30259"


def test_a_value_moved_out_of_range_fails_naming_the_check_range_and_value():
    result = references.evaluate(ref(), metrics_02(changes={("zeros", "val_loss_at_init"): 2.5}))
    assert result.status == "fail"
    assert "02_initialization/zeros_loss_at_init" in result.message
    assert "expected 2.30259 +- 0.0001" in result.message and "got 2.5" in result.message


def test_a_nan_written_as_null_fails():
    result = references.evaluate(ref(), metrics_02(changes={("zeros", "val_loss_at_init"): None}))
    assert result.status == "fail" and "got NaN" in result.message
    assert "zeros_loss_at_init" in result.message and "2.30259 +- 0.0001" in result.message


def test_a_missing_table_row_column_or_value_fails_with_what_is_missing():
    metrics = metrics_02()
    del metrics["tables"]["final_losses"]
    result = references.evaluate(ref(), metrics)
    assert (
        result.status == "fail" and "table 'final_losses' is not in metrics.json" in result.message
    )
    assert "zeros_loss_at_init" in result.message
    result = references.evaluate(ref(where={"initializer": "lecun"}), metrics_02())
    assert result.status == "fail" and "no row of final_losses" in result.message
    result = references.evaluate(ref(column="test_accuracy"), metrics_02())
    assert result.status == "fail" and "column 'test_accuracy'" in result.message
    gone = ref(table="", column="", value="gradient_check.missing", low=0.0, high=1e-5)
    result = references.evaluate(gone, metrics_02())
    assert result.status == "fail" and "values.gradient_check.missing" in result.message


def test_every_matching_row_must_be_in_range():
    both = ref(where={}, column="val_loss_at_init")  # zeros and ones in range, he_normal not
    result = references.evaluate(both, metrics_02())
    assert result.status == "fail" and "got 2.39" in result.message


def test_a_recorded_value_is_read_by_its_dotted_path():
    tape = ref(table="", column="", value="gradient_check.relative_difference", low=0, high=1e-5)
    assert references.evaluate(tape, metrics_02()).status == "pass"
    doctored = metrics_02()
    doctored["values"]["gradient_check"]["relative_difference"] = 0.3
    assert references.evaluate(tape, doctored).status == "fail"


def test_a_check_for_other_profiles_is_not_applicable():
    published = ref(kind="published", profiles=("full",), low=0.9695, high=0.99)
    result = references.evaluate(published, metrics_02(profile="quick"))
    assert result.status == "n/a" and "applies to full; this run is quick" in result.message


def test_measured_ranges_do_not_apply_to_a_run_with_other_parameters(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "quick.yaml").write_text("02_initialization:\n  epochs: 12\n")
    measured = ref(kind="measured", profiles=("quick",))
    metrics = metrics_02(profile="quick")
    metrics["parameters"].update(epochs=30, seeds=5)
    metrics["differs_from_full"] = {"epochs": {"value": 30, "full": 20}}
    results = references.check(metrics, [measured, ref()], path=tmp_path / "references.yaml")
    assert [r.status for r in results] == ["n/a", "pass"]  # the invariant still holds
    assert "holds for the quick profile's values; this run sets epochs" in results[0].message
    metrics["parameters"]["epochs"] = 12  # the profile's own value: seeds do not count
    results = references.check(metrics, [measured], path=tmp_path / "references.yaml")
    assert results[0].status == "pass"


def test_an_invariant_whose_row_the_parameters_leave_out_is_not_applicable(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "quick.yaml").write_text("02_initialization:\n  epochs: 12\n")
    metrics = metrics_02(profile="quick")
    metrics["parameters"].update(epochs=12)
    rows = metrics["tables"]["final_losses"]["rows"]
    rows[:] = [r for r in rows if r["initializer"] != "zeros"]  # as with -p initializers=[...]
    path = tmp_path / "references.yaml"
    assert references.check(metrics, [ref()], path=path)[0].status == "fail"  # profile's own
    metrics["parameters"]["initializers"] = ["ones", "he_normal"]
    metrics["differs_from_full"]["initializers"] = {"value": ["ones", "he_normal"], "full": []}
    result = references.check(metrics, [ref()], path=path)[0]
    assert result.status == "n/a" and "no row of final_losses" in result.message
    assert "this run sets initializers, which can leave it out" in result.message


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"kind": "guess"}, "kind 'guess' is not one of invariant, measured, published"),
        ({"profiles": ["laptop"]}, "profiles ['laptop'] must be some of"),
        ({"expect": {"low": 2, "high": 1}}, "has low > high"),
        ({"expect": {"around": 1}}, "must be {low, high} or {value, within}"),
        ({"source": None, "colour": "red"}, "unknown ['colour']"),
        ({"column": None}, "give either `value` or both `table` and `column`"),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_entry_and_field(tmp_path, entry, message):
    good = {
        "id": "x",
        "what": "w",
        "kind": "invariant",
        "profiles": ["smoke"],
        "table": "t",
        "column": "c",
        "expect": {"low": 0, "high": 1},
        "source": "derived",
        "tolerance": "exact",
    }
    bad = {k: v for k, v in {**good, **entry}.items() if v is not None}
    path = tmp_path / "references.yaml"
    path.write_text(json.dumps({"02_initialization": [bad]}))
    with pytest.raises(references.ReferenceError, match="02_initialization, entry x") as err:
        references.load(path)
    assert message in str(err.value)


def test_the_notebook_table_and_observations_say_agrees_and_does_not_agree():
    quick = metrics_02(changes={("zeros", "train_loss"): 2.1})
    final = ref(id="zeros_final_loss", column="train_loss", low=2.29, high=2.31)
    published = ref(id="he", kind="published", profiles=("full",), where={"initializer": "ones"})
    results = [references.evaluate(r, quick) for r in (ref(), final, published)]
    table = references.table(results, quick)
    assert list(table.columns) == ["quantity", "this run", "reference", "source", "verdict"]
    assert list(table.verdict) == ["pass", "fail", "not checked on quick"]
    notes = references.observations(results, quick)
    assert notes[0].endswith(": agrees.") and "**does not agree**" in notes[1]
    assert "within the range; not checked" in notes[2]


# ---------------------------------------------------------------- the command


def labs(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "labs_tools.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def write_run(folder, metrics):
    run = folder / metrics["notebook"]
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_labs_check_exits_0_when_every_check_passes_and_writes_check_json(tmp_path):
    metrics = metrics_02(profile="smoke")
    metrics["tables"]["unit_spread_after_training"] = {
        "rows": [{"initializer": "zeros", "hidden_1": 0.0}]
    }
    run = write_run(tmp_path, metrics)
    result = labs("check", "02", "--reports", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "zeros_loss_at_init" in result.stdout and "pass" in result.stdout
    record = json.loads((run / check.CHECK_FILE).read_text())
    assert record["passed"] and record["summary"].startswith("5 pass")
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_labs_check_exits_1_on_a_doctored_metrics_json_and_names_the_failure(tmp_path):
    write_run(tmp_path, metrics_02(profile="smoke", changes={("zeros", "val_loss_at_init"): 9.0}))
    result = labs("check", "--reports", str(tmp_path))
    assert result.returncode == 1
    assert "FAIL 02_initialization/zeros_loss_at_init" in result.stdout
    assert "expected 2.30259 +- 0.0001, got 9" in result.stdout
    assert "table 'unit_spread_after_training' is not in metrics.json" in result.stdout
    assert (
        json.loads((tmp_path / "02_initialization" / "check.json").read_text())["passed"] is False
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["09"], "notebook '09' is not a notebook of the pack"),
        (["03"], "03_activations has not been run into"),
        ([], None),  # an empty reports folder
    ],
)
def test_labs_check_exits_2_on_bad_arguments_before_writing(tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    folder = tmp_path if args else empty
    write_run(tmp_path, metrics_02(profile="smoke"))
    result = labs("check", *args, "--reports", str(folder))
    assert result.returncode == 2
    assert (message or "no executed notebooks in") in result.stderr
    assert not (tmp_path / "02_initialization" / "check.json").exists()


def test_labs_check_exits_2_on_a_malformed_references_file(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name, path in runner.discover().items():
        (notebooks / path.name).write_bytes(path.read_bytes())
    (notebooks / "references.yaml").write_text("02_initialization:\n  - id: x\n    kind: guess\n")
    write_run(tmp_path / "reports", metrics_02(profile="smoke"))
    result = labs(
        "--notebooks-dir", str(notebooks), "check", "--reports", str(tmp_path / "reports")
    )
    assert result.returncode == 2 and "02_initialization, entry x: missing" in result.stderr


POINTS = """aa_ok:
  - id: points_in_range
    what: the x column of the points table
    kind: invariant
    profiles: [smoke]
    table: points
    column: x
    expect: {{low: 0, high: {high}}}
    source: derived
    tolerance: exact
"""


def test_labs_run_check_checks_after_the_run_and_exits_1_on_a_fail(nbmaker, tmp_path):
    pack = nbmaker.pack(tmp_path / "pack", names=("aa_ok",), profiles={"smoke": "aa_ok:\n  n: 3\n"})
    (pack / "references.yaml").write_text(POINTS.format(high=1))  # x is 0, 1, 2: 2 is out
    out = tmp_path / "out"
    args = ("--notebooks-dir", str(pack), "run", "--profile", "smoke", "--out", str(out), "--check")
    result = labs(*args, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL aa_ok/points_in_range" in result.stdout and "got 2" in result.stdout
    assert json.loads((out / "aa_ok" / "check.json").read_text())["passed"] is False
    (pack / "references.yaml").write_text(POINTS.format(high=2))
    result = labs("--notebooks-dir", str(pack), "check", "--reports", str(out), cwd=tmp_path)
    assert result.returncode == 0 and "1 pass" in result.stdout


def test_labs_run_check_refuses_a_malformed_references_file_before_running(nbmaker, tmp_path):
    pack = nbmaker.pack(tmp_path / "pack", names=("aa_ok",))
    (pack / "references.yaml").write_text(POINTS.format(high="[1]").replace("kind: invariant", ""))
    out = tmp_path / "out"
    args = ("--notebooks-dir", str(pack), "run", "--profile", "smoke", "--out", str(out), "--check")
    result = labs(*args, cwd=tmp_path)
    assert (
        result.returncode == 2 and "aa_ok, entry points_in_range: missing ['kind']" in result.stderr
    )
    assert not out.exists()


def test_the_gallery_and_the_pdf_header_show_the_checks_summary(tmp_path):
    import nbformat

    from labs_tools import gallery, pdf

    metrics = metrics_02(profile="smoke", changes={("zeros", "val_loss_at_init"): 9.0})
    run = write_run(tmp_path, metrics)
    entry = gallery.entry("02_initialization", "02", tmp_path)
    assert entry.headline["checks against the references"] == "3 pass, 2 fail, 4 n/a"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 02")])
    header = pdf.header_metadata(pdf.run_info(nb, run / "02_initialization.ipynb"))
    assert "checks against the references: 3 pass, 2 fail, 4 n/a" in header["headline"]
    assert labs("check", "--reports", str(tmp_path)).returncode == 1  # check.json now decides
    assert check.summary_line(run) == "3 pass, 2 fail, 4 n/a"
