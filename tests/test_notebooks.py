"""Every notebook executed through the runner on the smoke profile, under both backends."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import nbformat
import pytest

from labs_tools import runner

NOTEBOOKS = list(runner.discover())
HAVE_JAX = importlib.util.find_spec("jax") is not None
BACKENDS = [
    "tensorflow",
    pytest.param(
        "jax",
        marks=pytest.mark.skipif(
            not HAVE_JAX, reason="jax is not installed (pip install -e '.[jax]')"
        ),
    ),
]


def labs(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "labs_tools.cli", *args], cwd=cwd, capture_output=True, text=True
    )


def test_every_notebook_runs_on_smoke(smoke_run):
    backend, out, result = smoke_run
    assert result.returncode == 0, result.stdout + result.stderr
    for name in NOTEBOOKS:
        folder = out / name
        if runner.unmet(
            runner.Job(
                name,
                runner.discover()[name],
                {},
                requires=runner.requirements(runner.discover()[name]),
            ),
            backend,
        ):
            assert f"{name}: skipped in 0.0 s - needs the" in result.stdout and not folder.exists()
            continue
        assert (folder / f"{name}.ipynb").exists() and (folder / "metrics.json").exists()
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["backend"] == backend and metrics["profile"] == "smoke"
        assert metrics["dataset"]["synthetic"] is True, (
            "smoke runs on synthetic data and must say so"
        )
        for figure in metrics["figures"]:
            for path in figure["files"]:
                assert (folder / path).stat().st_size > 1000
        executed = nbformat.read(str(folder / f"{name}.ipynb"), as_version=4)
        errors = [
            o
            for c in executed.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert not errors


def test_labs_check_passes_on_the_smoke_runs_and_each_notebook_shows_its_references(smoke_run):
    backend, out, _ = smoke_run
    result = labs("check", "--reports", str(out), cwd=out)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [n for n in NOTEBOOKS if (out / n / "metrics.json").exists()]
    for name in ran:
        record = json.loads((out / name / "check.json").read_text())
        assert record["passed"] and record["profile"] == "smoke"
        statuses = {c["check"]: c["status"] for c in record["checks"]}
        assert "fail" not in statuses.values()
        executed = nbformat.read(str(out / name / f"{name}.ipynb"), as_version=4)
        section = next(c for c in executed.cells if "compare_with_references" in c.source)
        shown = "".join(str(o.get("data", {})) for o in section.outputs)
        expected = "Checks: " if "pass" in statuses.values() else "No reference applies"
        assert expected in shown, name
    for name in ("02_initialization", "03_activations", "05_batchnorm"):  # invariants on smoke
        record = json.loads((out / name / "check.json").read_text())
        assert any(c["status"] == "pass" for c in record["checks"]), name


def test_02_shows_zeros_flat_at_ln10_ones_exploding_and_symmetric_units(smoke_run):
    _, out, result = smoke_run
    metrics = json.loads((out / "02_initialization" / "metrics.json").read_text())
    seeds = metrics["parameters"]["seeds"]
    rows = {r["initializer"]: r for r in metrics["tables"]["final_losses"]["rows"]}
    assert set(rows) == {"zeros", "ones", "random_normal", "glorot_normal", "he_normal"}
    assert {r["seeds"] for r in rows.values()} == {seeds} and seeds >= 2
    per_seed = metrics["tables"]["final_losses_per_seed"]["rows"]
    assert len(per_seed) == 5 * seeds
    assert all(
        r["test_accuracy_low"] <= r["test_accuracy"] <= r["test_accuracy_high"] for r in per_seed
    )
    assert len(metrics["tables"]["activation_std_at_init_per_seed"]["rows"]) == 5 * seeds
    assert len(metrics["tables"]["unit_spread_after_training_per_seed"]["rows"]) == 5 * seeds
    effects = {name: e["shown"] for name, e in metrics["effects"].items()}
    assert effects == {"scale_kept": True, "zeros_flat": True, "ones_blow_up": True}
    assert metrics["values"]["answer"].startswith("Yes: all-zero weights never learn")
    assert all("seed" in sentence for sentence in metrics["values"]["rankings"].values())
    assert rows["zeros"]["train_loss"] == pytest.approx(math.log(10), abs=0.01)
    assert rows["ones"]["max_train_loss"] > 100
    assert rows["he_normal"]["val_loss"] < rows["zeros"]["val_loss"]
    spread = {r["initializer"]: r for r in metrics["tables"]["unit_spread_after_training"]["rows"]}
    assert spread["zeros"]["hidden_1"] == 0.0 and spread["ones"]["hidden_1"] < 1e-5
    assert spread["he_normal"]["hidden_1"] > 0.01
    assert {f["name"] for f in metrics["figures"]} == {
        "activations_at_init",
        "loss_curves",
        "val_loss_overlay",
    }
    assert "SYNTHETIC" in metrics["values"]["observations"][0].upper()


def table_rows(metrics_path):
    """{table: rows} of a metrics.json, without timing columns (they differ run to run)."""
    tables = json.loads(metrics_path.read_text())["tables"]
    return {
        name: [{k: v for k, v in row.items() if "second" not in k} for row in t["rows"]]
        for name, t in tables.items()
    }


def test_a_warm_started_notebook_gives_the_same_tables_as_a_cold_started_one(smoke_runs, tmp_path):
    """02 runs second in the smoke pack, so its kernel started and imported Keras and labs_lib ahead
    of its turn."""
    out, result = smoke_runs["tensorflow"]
    assert result.returncode == 0, result.stdout
    cold = labs(
        "run",
        "02_initialization",
        "--profile",
        "smoke",
        "--no-warm-start",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert cold.returncode == 0, cold.stdout + cold.stderr
    name = "02_initialization/metrics.json"
    assert table_rows(tmp_path / "out" / name) == table_rows(out / name)


def test_committed_notebooks_carry_no_outputs():
    for name, path in runner.discover().items():
        nb = nbformat.read(str(path), as_version=4)
        dirty = [
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.outputs or c.execution_count)
        ]
        assert not dirty, f"{name}: cells {dirty} carry outputs; strip them (nbstripout)"


def test_nbstripout_verify_passes_on_the_committed_notebooks_and_fails_on_an_executed_one(tmp_path):
    """The same check as a pre-commit hook: `nbstripout --verify --keep-id` (exit 1 = the notebook
    carries outputs)."""
    if importlib.util.find_spec("nbstripout") is None:
        pytest.skip("nbstripout is not installed (dev extra)")
    paths = [str(p) for p in runner.discover().values()]
    clean = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--verify", "--keep-id", *paths],
        capture_output=True,
        text=True,
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    nb = nbformat.read(paths[0], as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="an output\n")]
    nbformat.write(nb, str(tmp_path / "dirty.ipynb"))
    dirty = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbstripout",
            "--verify",
            "--keep-id",
            str(tmp_path / "dirty.ipynb"),
        ],
        capture_output=True,
        text=True,
    )
    assert dirty.returncode == 1


@pytest.mark.parametrize(
    "override, message",
    [
        ("epochs=-1", "epochs must be an int in [1, 1000], got -1"),
        (
            "initializers=zeros,xavier",
            "initializers must be a non-empty list of str, each one of {zeros",
        ),
        ("learning_rate=fast", "learning_rate must be a float in (0, 1], got 'fast'"),
        ("epoch=3", "unknown parameter 'epoch'"),
    ],
)
def test_bad_parameters_of_02_are_refused_before_anything_runs(tmp_path, override, message):
    out = tmp_path / "out"
    result = labs(
        "run",
        "02_initialization",
        "--profile",
        "smoke",
        "-p",
        override,
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert not out.exists()


def test_03_without_cifar10_fails_with_the_data_modules_missing_dataset_error(tmp_path):
    out, empty = tmp_path / "out", tmp_path / "empty-data"
    empty.mkdir()
    env = dict(os.environ, LABS_DATA_DIR=str(empty))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "labs_tools.cli",
            "run",
            "03_activations",
            "--profile",
            "quick",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    assert "DatasetNotFoundError: cifar-10-python.tar.gz is missing from" in result.stdout
    record = json.loads((out / "03_activations.failed" / "run.json").read_text())
    assert record["status"] == "failed" and "LABS_DATA_DIR" in record["message"]


def test_04_is_tensorflow_only_and_its_stable_softmax_stays_finite(smoke_run):
    backend, out, result = smoke_run
    name = "04_lowlevel_softmax"
    if backend != "tensorflow":
        assert (
            f"{name}: skipped in 0.0 s - needs the tensorflow backend "
            f"(it uses tensorflow directly); this run uses {backend}" in result.stdout
        )
        return
    metrics = json.loads((out / name / "metrics.json").read_text())
    worst = metrics["tables"]["softmax_stability"]["rows"][-1]
    assert worst["naive softmax"] == "[nan nan nan]" and worst["naive cross-entropy"] is None
    assert worst["log-sum-exp cross-entropy"] == pytest.approx(
        worst["exact cross-entropy"], rel=1e-6
    )
    assert metrics["values"]["gradient_check"]["max_abs_difference_W"] < 1e-6
    runs = [r["run"] for r in metrics["tables"]["results"]["rows"]]
    assert runs == [
        "softmax regression",
        "A [32]",
        "B [32, 16]",
        "B + L2 0.001",
        "B + L2 0.006",
        "B + L1 0.0001",
        "B + L1 0.0006",
    ]
    assert {f["name"] for f in metrics["figures"]} == {
        "softmax_regression_curves",
        "architecture_curves",
        "l2_curves",
        "l1_curves",
        "near_zero_weights",
    }
    rows = metrics["tables"]["softmax_stability"]["rows"]
    assert [r["naive cross-entropy"] for r in rows[2:]] == ["inf", None, None]  # log 0, inf/inf
    effects = metrics["effects"]
    assert effects["stable_softmax"]["shown"] and effects["hand_gradient"]["shown"]
    seeds = metrics["parameters"]["seeds"]
    assert {r["seeds"] for r in metrics["tables"]["results"]["rows"]} == {seeds}
    per_seed = metrics["tables"]["results_per_seed"]["rows"]
    assert len(per_seed) == len(runs) * seeds
    assert len({(r["seed"], r["run"]) for r in per_seed}) == len(per_seed)
    assert all(r["exact_zeros"] <= r["weights"] for r in per_seed)
    assert metrics["values"]["answer"].startswith("Inside: logits")
    executed = nbformat.read(str(out / name / f"{name}.ipynb"), as_version=4)
    streams = "".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "Warning" not in streams and "/tmp" not in streams


def test_05_checks_its_batch_norm_and_fills_the_grid_and_the_four_runs(smoke_run):
    _, out, _ = smoke_run
    metrics = json.loads((out / "05_batchnorm" / "metrics.json").read_text())
    tables = metrics["tables"]
    assert max(r["max_abs_difference"] for r in tables["scratch_vs_keras"]["rows"]) < 1e-4
    for row in tables["training_mode_moments"]["rows"]:
        assert abs(row["output_mean"]) < 1e-4
        assert row["output_variance"] == pytest.approx(row["predicted_variance"], rel=1e-3)
    cells = {(r["network"], r["batch_size"], r["epochs"], r["l2"]) for r in tables["grid"]["rows"]}
    assert cells == {(n, 128, e, 0.01) for n in ("plain", "batch_norm") for e in (1, 2)}
    runs = {r["run"]: r for r in tables["early_stopping"]["rows"]}
    assert set(runs) == {"no BN, no L2", "BN and L2", "L2 only", "BN only"}
    assert all(r["epochs"] <= 2 and 0 <= r["test_accuracy"] <= 1 for r in runs.values())
    assert {r["run"] for r in tables["weight_stats"]["rows"]} == set(runs)
    modes = tables["modes"]["rows"]
    assert [m["batch_size"] for m in modes] == [100, 1, 50]
    assert {f["name"] for f in metrics["figures"]} == {
        "grid_heatmap",
        "early_stopping_curves",
        "early_stopping_checks",
        "weight_histograms",
        "learning_rate_curves",
        "modes",
    }


def test_06_compares_networks_of_one_budget_and_fits_both_functions(smoke_run):
    _, out, _ = smoke_run
    metrics = json.loads((out / "06_deep_vs_shallow" / "metrics.json").read_text())
    tables = metrics["tables"]
    for row in tables["network_sizes"]["rows"]:
        assert abs(row["off_budget_percent"]) <= 1.0
    fits = {(r["function"], r["hidden_layers"]) for r in tables["function_fits"]["rows"]}
    assert fits == {(f, d) for f in ("f1", "f2") for d in (1, 4, 7)}
    assert all(
        r["epochs_run"] <= 300 and r["final_mse"] > 0 for r in tables["function_fits"]["rows"]
    )
    budget = metrics["parameters"]["cnn_budget"]
    assert all(abs(r["parameters"] - budget) <= 0.01 * budget for r in tables["cnns"]["rows"])
    assert {f["name"] for f in metrics["figures"]} == {
        "function_losses",
        "function_predictions",
        "cnn_curves",
    }


def test_07_finds_near_critical_points_and_their_minimal_ratios(smoke_run):
    _, out, _ = smoke_run
    metrics = json.loads((out / "07_optimization" / "metrics.json").read_text())
    tables = metrics["tables"]
    critical = tables["critical_points"]["rows"]
    assert len(critical) == 4 and all(0 <= r["minimal_ratio"] <= 1 for r in critical)
    assert all(r["negative"] + r["near_zero"] <= 66 for r in critical)  # 4-4 network: 66 weights
    # critical: the gradient norm below critical_tol x the decisive |eigenvalue|, Newton refined
    assert all(r["critical"] == (r["grad_norm"] < 1e-3 * r["lambda_decisive"]) for r in critical)
    assert all(r["grad_norm"] <= r["grad_norm_adam"] for r in critical)
    assert "critical_points" in metrics["effects"] and "plateau" in metrics["effects"]
    assert len(tables["pca_runs"]["rows"]) == 3
    assert {r["seed"] for r in tables["gradient_norm_by_quarter"]["rows"]} == {0, 1}  # seeds 2
    assert len(metrics["values"]["answer"]) == 3
    assert metrics["values"]["f1_final_loss"]["n"] == 2  # seeds: 2
    assert len(metrics["values"]["observations"]) == 4  # synthetic note, (a), (b), (c)
    assert {f["name"] for f in metrics["figures"]} == {
        "pca_trajectories",
        "gradient_norm",
        "loss_vs_minimal_ratio",
    }


def test_08_fits_shuffled_labels_compares_widths_and_measures_flatness(smoke_run):
    _, out, _ = smoke_run
    metrics = json.loads((out / "08_generalization" / "metrics.json").read_text())
    tables = metrics["tables"]
    labels = {r["labels"]: r for r in tables["random_labels"]["rows"]}
    assert set(labels) == {"true labels", "random labels"}
    assert labels["random labels"]["parameters"] == labels["true labels"]["parameters"]
    assert all(r["seeds"] == 2 for r in labels.values())
    assert len(tables["random_labels_per_seed"]["rows"]) == 2 * 2
    sizes = tables["parameters_vs_generalization"]["rows"]
    assert [r["width"] for r in sizes] == [2, 3, 4]
    assert [r["parameters"] for r in sizes] == sorted(r["parameters"] for r in sizes) and sizes[0][
        "parameters"
    ] < sizes[-1]["parameters"]
    assert {"gap", "gap_sd", "epochs", "val_accuracy"} <= set(sizes[0])
    assert "every width reached the criterion" in metrics["effects"]
    curves = tables["interpolation_curves"]["rows"]
    pairs = sorted({r["pair"] for r in curves})
    # 7 grid alphas plus -0.05, 0.05, 0.95, 1.05 (beside each model); two seeds per pair
    assert len(pairs) == 2 and len(curves) == 2 * 2 * 11
    alphas = [r["alpha"] for r in curves if r["pair"] == pairs[0] and r["seed"] == 0]
    assert alphas[0] == -1.0 and alphas[-1] == 2.0 and 0.0 in alphas and 1.0 in alphas
    # both pairs start from the same model (small batch, low learning rate):
    # alpha 0 is the same weights
    at_zero = [r for r in curves if r["alpha"] == 0.0 and r["seed"] == 0]
    assert (
        at_zero[0]["train_loss"] == at_zero[1]["train_loss"]
        and at_zero[0]["test_loss"] == at_zero[1]["test_loss"]
    )
    assert "the compared solutions are near-minima" in metrics["effects"]
    batch = tables["batch_size_sensitivity_per_seed"]["rows"]
    assert [r["batch_size"] for r in batch] == [10, 10, 100, 100]
    assert [r["steps"] for r in batch] == [50, 50, 5, 5]
    assert all(r["sensitivity"] > 0 for r in batch)
    assert all(r["sharpness"] >= 0 for r in batch if r["reached"])
    assert [r["seeds"] for r in tables["batch_size_sensitivity"]["rows"]] == [2, 2]
    assert len(metrics["values"]["answer"]) >= 3
    assert {f["name"] for f in metrics["figures"]} == {
        "random_labels",
        "parameters_vs_generalization",
        "interpolation",
        "batch_size_sensitivity",
    }
