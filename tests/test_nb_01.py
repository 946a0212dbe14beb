"""Notebook 01 on the smoke profile, and what every executed notebook must not print."""

import json
import os

import nbformat

from labs_tools import runner

NOTEBOOKS = list(runner.discover())

HOME = os.path.expanduser("~")


def outputs_text(path):
    """Every text output of an executed notebook, joined."""
    nb = nbformat.read(str(path), as_version=4)
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts += [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def test_01_compares_over_seeds_checks_overfitting_and_answers(smoke_run):
    _, out, _ = smoke_run
    metrics = json.loads((out / "01_regularization" / "metrics.json").read_text())
    seeds = metrics["parameters"]["seeds"]
    main, per_seed = metrics["tables"]["main"], metrics["tables"]["main_per_seed"]
    assert all(row["seeds"] == seeds for row in main["rows"])
    assert {"val_accuracy_sd", "gap_sd", "running_loss"} <= set(main["columns"])
    assert len(per_seed["rows"]) == seeds * len(main["rows"])
    assert "overfitting" in metrics["effects"]
    assert metrics["values"]["answer"]
    assert {"near_zero", "exact_zero"} <= set(metrics["tables"]["small_weights"]["columns"])
    assert metrics["differs_from_full"]["seeds"] == {"value": seeds, "full": 5}


def test_no_executed_notebook_or_metrics_shows_a_machine_path_or_a_staging_folder(smoke_run):
    backend, out, _ = smoke_run
    for name in NOTEBOOKS:
        folder = out / name
        if not folder.exists():
            continue
        notebook = (folder / f"{name}.ipynb").read_text()  # sources and papermill's metadata too
        assert str(out) not in notebook and ".staging-" not in notebook, name
        for text in (outputs_text(folder / f"{name}.ipynb"), (folder / "metrics.json").read_text()):
            assert str(out) not in text and ".staging-" not in text, name
            assert " 1 runs" not in text and " 1 hidden layers" not in text, name
            assert "RuntimeWarning" not in text, name
        assert (
            json.loads((folder / "metrics.json").read_text())["parameters"].get(
                "out_dir", f"{out.name}/{name}"
            )
            == f"{out.name}/{name}"
        )


def test_every_quick_profile_notebook_with_seeds_repeats_at_least_three_times():
    quick = runner.load_profile("quick")
    for name, values in quick.items():
        if "seeds" in values:
            assert values["seeds"] >= 3, name
