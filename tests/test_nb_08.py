"""Notebook 08: its figure helpers (no notebook run) and, on the smoke profile, the effects it
checks, the per-seed tables and the answer."""

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from labs_lib import plots  # noqa: E402


def history(scale, n=4):
    epochs = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "epoch": epochs,
            "loss": scale / epochs,
            "accuracy": 1 - 0.5 / epochs,
            "test_loss": 2 * scale / epochs,
            "test_accuracy": 0.9 - 0.5 / epochs,
        }
    )


def test_held_out_bands_draws_mean_lines_and_bands_over_seeds():
    fig = plots.held_out_bands(
        {"true": [history(1.0), history(2.0)], "random": [history(3.0)]}, "t"
    )
    loss, accuracy = fig.axes
    assert loss.get_yscale() == "log" and accuracy.get_ylim() == (0, 1.02)
    means = [line.get_ydata() for line in loss.lines]
    np.testing.assert_allclose(means[0], 1.5 / np.arange(1, 5))  # mean of the two seeds
    assert len(loss.collections) == 2  # a band for each of the two-seed curves, none for one seed
    labels = accuracy.get_legend_handles_labels()[1]
    assert labels == ["true (train)", "true (test)", "random (train)", "random (test)"]


def test_metrics_against_is_a_grid_with_error_bars_not_a_strip():
    table = pd.DataFrame(
        {
            "batch": [10, 100, 1000],
            "train_loss": [0.01, 0.02, 0.03],
            "train_loss_sd": [0.001, 0.002, 0.003],
            "val_loss": [0.1, 0.2, 0.3],
            "train_accuracy": [0.99, 0.98, 0.97],
            "val_accuracy": [0.9, 0.91, 0.92],
            "a": [1.0, 2.0, 3.0],
            "b": [1.0, 2.0, 3.0],
            "c": [1.0, 2.0, 3.0],
        }
    )
    extra = [("a", "a"), ("b", "b"), ("c", "c")]
    fig = plots.metrics_against(table, "batch", "t", "batch", extra=extra, held_out="val")
    width, height = fig.get_size_inches()
    assert width / height <= 2.5
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 5
    assert visible[0].get_legend_handles_labels()[1] == ["train", "val"]
    assert visible[0].containers  # error bars where the table has an _sd column


@pytest.fixture
def metrics_08(smoke_run):
    _, out, _ = smoke_run
    return json.loads((out / "08_generalization" / "metrics.json").read_text())


def test_08_checks_its_preconditions_over_seeds_and_answers(metrics_08):
    seeds = metrics_08["parameters"]["seeds"]
    effects = metrics_08["effects"]
    assert {
        "random labels fitted",
        "every width reached the criterion",
        "the compared solutions are near-minima",
        "every batch size reached the target loss",
    } <= set(effects)
    tables = metrics_08["tables"]
    for name in ("parameters_vs_generalization", "batch_size_sensitivity", "random_labels"):
        assert all(row["seeds"] == seeds for row in tables[name]["rows"])
        assert len(tables[f"{name}_per_seed"]["rows"]) == seeds * len(tables[name]["rows"])
    assert all(
        "rho" in value or value == "not compared"
        for value in list(metrics_08["values"]["headline"].values())[1:]
    )
    assert metrics_08["values"]["answer"] and all(
        isinstance(line, str) for line in metrics_08["values"]["answer"]
    )
    assert metrics_08["differs_from_full"]["seeds"] == {"value": seeds, "full": 5}


def test_08_calls_a_model_a_near_minimum_only_at_the_target_loss(metrics_08):
    target = metrics_08["parameters"]["flat_target_loss"]
    rows = metrics_08["tables"]["interpolation_ends_per_seed"]["rows"]
    assert rows and all(row["near_minimum"] == (row["train_loss"] <= target) for row in rows)
    # cross-entropy is never negative: nothing along a line falls further than the model's loss
    assert all(0 <= row["fall_nearby"] <= row["train_loss"] for row in rows)
