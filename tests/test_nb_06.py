"""Notebook 06: every net's loss side by side, one trunk with dense heads of one budget, the
function-fit figures over seeds, and the smoke run's tables, effects and answer."""

import json

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from labs_lib import loops, models, plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def regressors():
    return [
        models.regressor([8], seed=0, name="shallow"),
        models.regressor([4, 4], seed=1, name="deep"),
    ]


def test_fit_each_records_each_nets_own_loss_as_if_trained_alone():
    x = np.linspace(-1, 1, 50, dtype="float32")[:, None]
    y = np.sin(3 * x).astype("float32")
    losses, _ = loops.fit_each(
        models.side_by_side(regressors()),
        keras.optimizers.AdamW(1e-2, weight_decay=1e-4),
        x,
        y,
        epochs=30,
        chunk=7,
    )
    assert losses.shape == (30, 2)
    for i, net in enumerate(regressors()):
        alone, _ = loops.fit_full_batch(
            net, keras.optimizers.AdamW(1e-2, weight_decay=1e-4), x, y, epochs=30, chunk=30
        )
        np.testing.assert_allclose(losses[:, i], alone.loss, rtol=1e-4, atol=1e-6)


def test_fit_each_stops_at_the_end_of_the_chunk_where_done_holds():
    x = np.linspace(-1, 1, 20, dtype="float32")[:, None]
    losses, _ = loops.fit_each(
        models.side_by_side(regressors()),
        keras.optimizers.Adam(1e-2),
        x,
        0 * x,
        epochs=100,
        chunk=10,
        done=lambda so_far: len(so_far) >= 20,
    )
    assert len(losses) == 20


@pytest.mark.parametrize("n_dense", [1, 2, 3, 4])
def test_dense_heads_share_the_trunk_and_stay_within_one_percent_of_the_budget(n_dense):
    trunk, _ = models.cnn_for_budget(1, 25500)
    dense = models.dense_head_for_budget(n_dense, 25500, trunk)
    assert len(dense) == n_dense - 1
    assert abs(models.cnn_param_count(trunk, dense) - 25500) <= 255
    assert all(w >= 8 for w in dense)


def test_dense_head_refuses_no_layer():
    with pytest.raises(ValueError, match="at least 1"):
        models.dense_head_for_budget(0, 25500, (8, 79))


def test_seed_fit_losses_draw_bands_a_threshold_and_dots_per_converged_seed():
    curves = {"f1": {"a": np.geomspace([1.0, 2.0], [1e-3, 1e-1], 100).T}}
    fig = plots.seed_fit_losses(curves, {"f1": 1e-2}, {"f1": {"a": [40, None]}}, "t")
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert len(ax.collections) == 1  # the min-max band
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert list(dots[0].get_xdata()) == [40]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "threshold"]


def test_fit_predictions_draw_a_band_over_seeds_and_keep_the_legend_off_the_data():
    x = np.linspace(-1, 1, 30)[:, None]
    fig = plots.fit_predictions({"f2": (x, np.sign(x))}, {("f2", "net"): [x * 0.9, x * 1.1]}, "t")
    ax = fig.axes[0]
    assert len(ax.collections) == 1
    anchor = ax.get_legend().get_bbox_to_anchor().transformed(ax.transAxes.inverted())
    assert anchor.x0 >= 1.0  # outside the panel, right of it


def test_smoke_run_keeps_every_seed_checks_its_effects_and_answers(smoke_run):
    _, out, _ = smoke_run
    metrics = json.loads((out / "06_deep_vs_shallow" / "metrics.json").read_text())
    tables, seeds = metrics["tables"], metrics["parameters"]["seeds"]
    per_seed = tables["function_fits_per_seed"]["rows"]
    assert len(per_seed) == 2 * 3 * seeds
    assert all(r["seeds"] == seeds for r in tables["function_fits"]["rows"])
    assert len(tables["cnns_per_seed"]["rows"]) == 2 * seeds
    trunks = {r["conv_filters"] for r in tables["cnns"]["rows"]}
    assert len(trunks) == 1 and all("test_accuracy_sd" in r for r in tables["cnns"]["rows"])
    assert {"f1_converged", "f2_converged"} <= set(metrics["effects"])
    assert "ranking_over_training" in tables and metrics["values"]["answer"]
