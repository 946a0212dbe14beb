"""02 initialization: the panel helpers its figures use (ln 10 line, tick labels, shared x)."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from labs_lib import plots

matplotlib.use("Agg")


def histories(names, epochs=4, seeds=2):
    """{name: [history per seed]} with a flat zeros run at ln 10 and falling losses otherwise."""
    out = {}
    for i, name in enumerate(names):
        runs = []
        for s in range(seeds):
            epoch = np.arange(1, epochs + 1)
            loss = np.full(epochs, np.log(10)) if name == "zeros" else 2.0 / epoch + 0.01 * (i + s)
            runs.append(pd.DataFrame({"epoch": epoch, "loss": loss, "val_loss": loss * 1.1}))
        out[name] = runs
    return out


NAMES = ["zeros", "ones", "random_normal", "glorot_normal", "he_normal"]


def test_mark_reference_draws_the_line_in_every_data_panel_and_keeps_it_in_range():
    fig = plots.loss_grid(histories(NAMES), "t", sharey=True)
    plots.mark_reference(fig, 50.0, "ref")  # above every curve: the y range must grow to it
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == len(NAMES)
    for ax in panels:
        flat = [line for line in ax.lines if np.allclose(line.get_ydata(), 50.0)]
        assert flat and flat[0].get_linestyle() == ":"
        assert ax.get_ylim()[1] >= 50.0
        assert "ref" in [t.get_text() for t in ax.texts]


def test_show_x_tick_labels_labels_the_panel_above_an_empty_grid_slot():
    fig = plots.loss_grid(histories(NAMES), "t")
    above_gap = fig.axes[2]  # row 0, column 2: the slot below it is empty
    assert not above_gap.xaxis.get_tick_params()["labelbottom"]
    plots.show_x_tick_labels(fig)
    fig.canvas.draw()
    for ax in fig.axes:
        if ax.get_visible():
            assert ax.xaxis.get_tick_params()["labelbottom"]
            assert any(t.get_text() for t in ax.get_xticklabels())


def test_activation_histograms_share_a_log_x_axis_within_a_row_only():
    rng = np.random.default_rng(0)
    acts = {
        "shrinks": {"h1": np.maximum(rng.normal(size=200), 0), "h2": rng.random(200) * 0.01},
        "zeros": {"h1": np.zeros(100), "h2": np.zeros(100)},
    }
    fig = plots.activation_histograms(acts, "t", bins=10)
    axes = np.array(fig.axes).reshape(2, 2)
    shrinks, zeros = axes
    assert shrinks[0].get_shared_x_axes().joined(shrinks[0], shrinks[1])
    assert not shrinks[0].get_shared_x_axes().joined(shrinks[0], zeros[0])
    assert [ax.get_xscale() for ax in shrinks] == ["log", "log"]
    # the narrow layer sits two decades to the left of the first, on the same axis
    assert shrinks[0].get_xlim() == shrinks[1].get_xlim()
    left_edges = [min(p.get_x() for p in ax.patches) for ax in shrinks]
    assert left_edges[1] < left_edges[0] / 10
    # every non-zero value is counted, and a row without data shows no ticks
    counted = sum(p.get_height() for p in shrinks[0].patches)
    assert counted == np.count_nonzero(acts["shrinks"]["h1"])
    assert not zeros[0].patches and list(zeros[0].get_xticks()) == []


@pytest.mark.parametrize("sharex", [False, "row"])
def test_histogram_grid_keeps_its_own_x_axes_unless_asked(sharex):
    values = {"a": {"l1": np.arange(10.0), "l2": np.arange(10.0) * 100}}
    fig = plots.histogram_grid(values, "t", "value", bins=5, sharex=sharex)
    left, right = fig.axes
    assert (left.get_xlim() == right.get_xlim()) == (sharex == "row")
    assert left.get_xscale() == right.get_xscale() == "linear"
