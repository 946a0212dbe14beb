"""Notebook 04's figures: runs over seeds with a zoomed accuracy axis, and weights near zero."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from labs_lib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def curve(seed, level):
    """Accuracy from 0.1 at step 0 to about `level`, a little zig-zag, a seed's own offset."""
    steps = np.arange(0, 1100, 100)
    rise = level - (level - 0.1) * np.exp(-steps / 100)
    wiggle = 0.01 * (-1) ** np.arange(len(steps)) + 0.002 * seed
    return pd.DataFrame(
        {
            "step": steps,
            "loss": np.geomspace(2.3, 0.3, len(steps)),
            "val_loss": np.geomspace(2.3, 0.35, len(steps)),
            "accuracy": rise + wiggle,
            "val_accuracy": rise + wiggle - 0.01,
        }
    )


def test_seed_curves_draw_mean_lines_and_bands_and_zoom_past_the_first_steps():
    runs = {"A": [curve(0, 0.85), curve(1, 0.85)], "B": [curve(0, 0.87), curve(2, 0.87)]}
    fig = plots.seed_family_curves(runs, "t", final_from=800)
    loss_ax, acc_ax = fig.axes[:2]
    assert loss_ax.get_yscale() == "log"
    low, high = acc_ax.get_ylim()
    assert 0.7 < low < 0.83 and 0.87 < high < 0.95  # not 0 to 0.9: the late differences show
    mean_a = acc_ax.lines[0].get_ydata()
    np.testing.assert_allclose(mean_a, (runs["A"][0].accuracy + runs["A"][1].accuracy) / 2)
    assert len(acc_ax.collections) >= 4  # a min-max band per run and split
    shaded = [p for p in acc_ax.patches if p.get_x() == pytest.approx(800)]
    assert shaded, "the points the final metrics average are shaded"
    labels = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert labels == ["A (train)", "A (validation)", "B (train)", "B (validation)"]


def test_near_zero_weights_plots_shares_with_error_bars_and_counts_exact_zeros():
    table = pd.DataFrame(
        {
            "run": ["B", "B + L2 0.01", "B + L2 0.03", "B + L1 0.001", "B + L1 0.003"],
            "penalty": ["none", "l2", "l2", "l1", "l1"],
            "strength": [0.0, 0.01, 0.03, 0.001, 0.003],
            "near_zero": [0.01, 0.02, 0.05, 0.3, 0.6],
            "near_zero_sd": [0.001, 0.002, 0.003, 0.01, 0.02],
        }
    )
    weights = {"B": np.linspace(0.01, 0.1, 40), "B + L1 0.003": np.r_[np.zeros(3), 1e-5, 0.5]}
    fig = plots.near_zero_weights(table, weights, "t", 1e-3, marks=[(3e-4, "one step")])
    left, right = fig.axes[:2]
    assert left.get_xscale() == "log" and left.get_ylim()[0] == 0
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["no penalty", "L2", "L1"]
    assert right.get_xscale() == "log"
    texts = [t.get_text() for t in right.get_legend().get_texts()]
    assert "B + L1 0.003 (3 exact zeros)" in texts and "B (0 exact zeros)" in texts
    assert "|w| = 0.001" in texts and "one step" in texts
