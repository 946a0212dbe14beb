"""05 batch norm: early stopping side by side, and the figures' helpers (bins, seeds, spreads)."""

import json
from types import SimpleNamespace

import keras
import matplotlib
import numpy as np
import pandas as pd

from labs_lib import models, plots, training

matplotlib.use("Agg")


def tiny_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return SimpleNamespace(x_train=x, y_train=y, x_val=x[:32], y_val=y[:32])


def test_early_stopping_each_stops_every_net_on_its_own_and_restores_its_weights():
    data = tiny_data()
    nets = [models.mlp((6,), [4], n_classes=2, seed=s, name=f"net_{s}") for s in range(2)]
    model = models.side_by_side(nets)
    training.compile_classifier(model, 0.0, optimizer="sgd", steps_per_execution=1)  # lr 0: flat
    stopper = training.EarlyStoppingEach(nets, data.x_val, data.y_val, 1e-5, 2, 2)
    training.fit_side_by_side(model, data, epochs=5, batch_size=16, callbacks=[stopper])
    # checks at steps 2, 4, 6: the first counts as a gain, the next two do not (patience 2)
    assert stopper.stopped_step == {"net_0": 6, "net_1": 6}
    assert stopper.step == 6  # fit stopped once both rules fired, in the second epoch
    assert list(stopper.checks["net_0"].step) == [2, 4, 6]


def test_early_stopping_each_gives_a_stopped_net_back_the_weights_it_had_then():
    data = tiny_data()
    nets = [models.mlp((6,), [4], n_classes=2, seed=s, name=f"net_{s}") for s in range(2)]
    stopper = training.EarlyStoppingEach(nets, data.x_val, data.y_val, 1e-5, 1, 1)
    stopper.set_model(models.side_by_side(nets))
    stopper.set_params({"steps": 4})
    stopper.on_epoch_begin(0)
    stopper.on_train_batch_end(0)  # patience 1: the first check counts as an improvement
    kept = [w.copy() for w in nets[0].get_weights()]
    stopper.stopped_step["net_1"] = 1  # pretend net_1 stopped before: it is not checked again
    stopper.rules["net_0"].best = -1.0  # no improvement possible: net_0 stops at step 2
    stopper.on_train_batch_end(1)
    assert stopper.stopped_step["net_0"] == 2 and len(stopper.checks["net_1"]) == 1
    nets[0].set_weights([w + 1 for w in kept])
    stopper.on_train_end()
    assert all(np.array_equal(a, b) for a, b in zip(nets[0].get_weights(), kept))
    assert isinstance(stopper, keras.callbacks.Callback)


def test_weight_histograms_choose_few_bins_for_a_small_layer():
    rng = np.random.default_rng(0)
    weights = {"run": {"big": rng.normal(size=(784, 20)), "small": rng.normal(size=(7, 5))}}
    fig = plots.weight_histograms(weights, "t")
    big, small = fig.axes
    assert len(small.patches) <= 10 < len(big.patches)


def test_validation_checks_draw_every_seed_and_count_the_stops():
    frame = pd.DataFrame({"step": [4, 8, 12], "val_loss": [1.0, 0.9, 0.95]})
    fig = plots.validation_checks(
        {"a": [frame, frame], "b": frame}, {"a": [12, None], "b": None}, "t"
    )
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a (stopped 1 of 2)", "b"]
    assert sum(1 for line in ax.lines if line.get_marker() == "x") == 1


def test_accuracy_heatmaps_annotate_the_spread_over_seeds():
    table = pd.DataFrame(
        {
            "network": ["plain", "plain"],
            "batch_size": [32, 64],
            "epochs": [5, 5],
            "l2": [0.01, 0.01],
            "test_accuracy": [0.9, 0.8],
            "test_accuracy_sd": [0.01, 0.02],
        }
    )
    fig = plots.accuracy_heatmaps(table, "t")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "90.0\n+- 1.0" in texts and "80.0\n+- 2.0" in texts


def test_05_keeps_every_seed_checks_its_effects_and_answers(smoke_run):
    _, out, _ = smoke_run
    metrics = json.loads((out / "05_batchnorm" / "metrics.json").read_text())
    tables = metrics["tables"]
    seeds = metrics["parameters"]["seeds"]
    for name in ("grid", "early_stopping", "weight_stats", "learning_rates", "modes"):
        assert {name, f"{name}_per_seed"} <= set(tables)
    per_seed = tables["early_stopping_per_seed"]["rows"]
    assert {r["seed"] for r in per_seed} == set(range(seeds))
    assert all(r["seeds"] == seeds for r in tables["grid"]["rows"])
    effects = metrics["effects"]
    assert {"stop_rule_can_fire", "early_stopping_fires", "bn_trains_faster"} <= set(effects)
    assert effects["stop_rule_can_fire"]["shown"] and effects["early_stopping_fires"]["shown"]
    assert metrics["values"]["answer"].startswith("Batch normalization normalizes")
