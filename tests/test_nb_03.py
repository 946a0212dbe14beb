"""Notebook 03 on the smoke profile: comparisons over seeds, the vanishing-gradient checks, the
gradient check with both bugs caught, and the answer."""

import json

import pytest


@pytest.fixture
def metrics_03(smoke_run):
    _, out, _ = smoke_run
    return json.loads((out / "03_activations" / "metrics.json").read_text())


def test_03_compares_activations_and_remedies_over_seeds(metrics_03):
    seeds = metrics_03["parameters"]["seeds"]
    tables = metrics_03["tables"]
    activations = tables["activations"]
    assert {"seeds", "test_accuracy_sd", "one_run_test_low", "one_run_test_high"} <= set(
        activations["columns"]
    )
    assert all(row["seeds"] == seeds for row in activations["rows"])
    for row in activations["rows"]:
        assert row["one_run_test_low"] <= row["one_run_test_high"]
    assert len(tables["activations_per_seed"]["rows"]) == seeds * len(activations["rows"])
    remedies = tables["remedies"]
    assert {"grad_ratio_init", "grad_ratio_init_sd", "first_layer_change"} <= set(
        remedies["columns"]
    )
    names = [row["network"] for row in remedies["rows"]]
    assert {"sigmoid, random normal", "sigmoid + Glorot", "sigmoid + Adam"} <= set(names)
    assert len(tables["remedies_per_seed"]["rows"]) == seeds * len(names)
    assert metrics_03["differs_from_full"]["seeds"] == {"value": seeds, "full": 5}


def test_03_checks_its_effects_and_answers(metrics_03):
    effects = metrics_03["effects"]
    assert {"vanishing_gradient", "remedies_narrow_the_gap", "gradient_check"} <= set(effects)
    assert effects["gradient_check"]["shown"]  # float64 on any data: near 1e-8, bugs near 1
    errors = {
        row["gradient"]: row["relative_error"]
        for row in metrics_03["tables"]["gradient_check"]["rows"]
    }
    assert (
        sum(e < 1e-6 for e in errors.values()) == 3 and sum(e > 1e-2 for e in errors.values()) == 2
    )
    assert errors["your backward pass (exercises 5, 6)"] < 1e-7  # the solution, checked
    assert metrics_03["values"]["answer"].startswith("**Activation.**")
    headline = metrics_03["values"]["headline"]
    assert any(key.startswith("test accuracy") for key in headline)
    figures = {figure["name"] for figure in metrics_03["figures"]}
    assert {"gradient_check", "remedies_learning_curves", "deep_sigmoid_weight_stats"} <= figures
