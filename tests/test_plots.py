"""labs_lib.plots: every figure function on small synthetic inputs shaped like the notebooks'
(titles, axis labels, log scales, legends), saved through Report.figure as PNG and PDF."""

import functools
import inspect
import itertools
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from labs_lib import plots  # noqa: E402
from labs_lib.reporting import Report  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TITLE = "Synthetic check (θ)"


@pytest.fixture(autouse=True)
def close_figures():
    """Closed for pyplot after each test; a closed figure still reads and saves (draw's cache)."""
    yield
    plt.close("all")


# ---------------------------------------------------------------- synthetic inputs


def history(epochs=6, start=2.0, end=0.5, shift=0.0):
    """A Keras-like history frame: epoch, loss, val_loss, accuracy, val_accuracy."""
    loss = np.geomspace(start, end, epochs)
    return pd.DataFrame(
        {
            "epoch": np.arange(1, epochs + 1),
            "loss": loss,
            "val_loss": loss * 1.2,
            "accuracy": np.linspace(0.4, 0.9, epochs) - shift,
            "val_accuracy": np.linspace(0.35, 0.85, epochs) - shift,
        }
    )


def histories(names=("sgd", "adam", "rmsprop"), start=2.0, end=0.5):
    return {name: history(start=start, end=end, shift=0.02 * i) for i, name in enumerate(names)}


DECADES = dict(start=5.0, end=0.001)  # a loss spanning more than two decades: log axis
FLAT = dict(start=2.0, end=0.5)  # within one decade: linear axis

LAYERS = ("dense", "dense_1", "dense_2")


def per_layer_frame(epochs=4):
    rows = [
        {"layer": layer, "epoch": e, "mean": 0.01 * e - i, "std": 0.1 + 0.02 * e * (i + 1)}
        for e in range(epochs)
        for i, layer in enumerate(LAYERS)
    ]
    return pd.DataFrame(rows)


def grad_frame(epochs=4):
    rows = [
        {"layer": layer, "epoch": e, "grad_norm": 10.0 ** (-i - 0.5 * e)}
        for e in range(epochs)
        for i, layer in enumerate(LAYERS)
    ]
    return pd.DataFrame(rows)


def depth_frames():
    return {
        name: pd.DataFrame({"layer": list(LAYERS), "grad_norm": scale * np.geomspace(1, 1e-4, 3)})
        for name, scale in (("sigmoid", 1.0), ("relu", 10.0))
    }


def grid_table():
    rng = np.random.default_rng(0)
    rows = [
        dict(network=net, batch_size=b, epochs=e, l2=l2, test_accuracy=rng.uniform(0.8, 0.99))
        for net, b, e, l2 in itertools.product(("plain", "bn"), (32, 128), (5, 10), (0.0, 0.01))
    ]
    return pd.DataFrame(rows)


def nested_values(zero_layer=None):
    """{configuration: {layer: array}} for the histogram grids (2 configurations x 3 layers)."""
    rng = np.random.default_rng(1)
    values = {
        name: {layer: np.maximum(rng.normal(size=(40, 8)), 0) for layer in LAYERS}
        for name in ("he_normal", "zeros")
    }
    if zero_layer:
        values["zeros"][zero_layer] = np.zeros((40, 8))
    return values


def checks_and_stops():
    steps = np.arange(100, 600, 100)
    checks = {
        "bn": pd.DataFrame({"step": steps, "val_loss": [0.9, 0.6, 0.5, 0.52, 0.55]}),
        "plain": pd.DataFrame({"step": steps, "val_loss": [1.2, 1.0, 0.9, 0.85, 0.8]}),
    }
    return checks, {"bn": 500, "plain": None}


def fit_histories():
    return {
        f"{fn}, {d} hidden": pd.DataFrame(
            {"epoch": np.arange(1, 51), "loss": np.geomspace(1.0, 10.0 ** -(d + 1), 50)}
        )
        for fn in ("f1", "f2")
        for d in (1, 2)
    }


FIT_MARKS = {"f1, 1 hidden": 30, "f1, 2 hidden": None, "f2, 1 hidden": float("nan")}


def fit_targets():
    x = np.linspace(-1, 1, 20)[:, None]
    targets = {"f1": (x, np.sin(3 * x)), "f2": (x, x**2)}
    predictions = {
        (fn, f"{d} hidden layers"): y[:, 0] + 0.05 * d
        for fn, (_, y) in targets.items()
        for d in (1, 2)
    }
    return targets, predictions


def size_table(decades=True):
    params = np.array([1e3, 1e4, 1e5, 1e6])
    train = np.geomspace(2.0, 1e-4, 4) if decades else np.linspace(0.6, 0.3, 4)
    return pd.DataFrame(
        {
            "parameters": params[::-1],  # unsorted: the function sorts by x
            "train_loss": train[::-1],
            "test_loss": train[::-1] * 1.5,
            "train_accuracy": np.linspace(0.6, 1.0, 4)[::-1],
            "test_accuracy": np.linspace(0.55, 0.9, 4)[::-1],
            "sensitivity": np.geomspace(0.1, 50, 4)[::-1],
        }
    )


EXTRA = [("sensitivity", "sensitivity (mean Jacobian norm)")]


def interpolation_inputs():
    alpha = np.linspace(-1, 2, 7)
    curve = pd.DataFrame(
        {
            "alpha": alpha,
            "train_loss": 0.05 + (alpha - 0.5) ** 4,
            "test_loss": 0.1 + (alpha - 0.5) ** 4,
            "train_accuracy": 0.95 - 0.1 * np.abs(alpha - 0.5),
            "test_accuracy": 0.9 - 0.1 * np.abs(alpha - 0.5),
        }
    )
    return {
        "small vs large batch": (curve, ("batch 32", "batch 1024")),
        "two seeds": (curve, ("seed 0", "seed 1")),
    }


# ---------------------------------------------------------------- one case per figure function
# Each case draws its function's figure with the given title, as the notebooks call it. The label
# exemptions name the panels (indices into data_axes) where the function deliberately sets no axis
# label: shared y axes, histogram grids labelled once, heat maps and bars labelled by tick labels.


def data_axes(fig):
    """The visible panels that show data (colour bars aside), in drawing order."""
    return [
        ax
        for ax in fig.axes
        if ax.get_visible()
        and ax.get_label() != "<colorbar>"
        and (ax.lines or ax.patches or ax.collections or ax.images)
    ]


CASES = {
    "seed_fit_losses": (
        lambda t: plots.seed_fit_losses(
            {"f1": {"a": np.geomspace([1.0, 2.0], [1e-3, 1e-1], 100).T}},
            {"f1": 1e-2},
            {"f1": {"a": [40, None]}},
            t,
        ),
        {},
    ),
    "held_out_bands": (
        lambda t: plots.held_out_bands(
            {n: list(histories((n + "0", n + "1")).values()) for n in ("A", "B")}, t, held_out="val"
        ),
        {},
    ),
    "pca_paths": (
        lambda t: plots.pca_paths(
            {
                "whole model": {"start 1": np.c_[np.arange(5.0), np.arange(5.0) ** 2]},
                "last layer": {"start 1": np.c_[np.arange(5.0), -np.arange(5.0)]},
            },
            {"start 1": 0.91},
            t,
            explained={"whole model": [0.3, 0.2], "last layer": [0.5, 0.1]},
        ),
        {},
    ),
    "critical_points": (
        lambda t: plots.critical_points(
            pd.DataFrame(
                {
                    "minimal_ratio": [0.1, 0.3, 0.5],
                    "loss": [1e-3, 1e-2, 1e-1],
                    "lambda_decisive": [1e-4, 2e-4, 3e-4],
                    "grad_norm": [1e-8, 1e-3, 1e-4],
                    "critical": [True, False, False],
                }
            ),
            t,
            tol=0.1,
        ),
        {},
    ),
    "loss_and_grad_norm_seeds": (
        lambda t: plots.loss_and_grad_norm_seeds(
            [
                pd.DataFrame(
                    {
                        "epoch": np.arange(1, 11),
                        "loss": np.geomspace(1, 1e-3, 10) * (s + 1),
                        "grad_norm": np.geomspace(1e-1, 1e-4, 10),
                    }
                )
                for s in range(2)
            ],
            t,
        ),
        {"no_xlabel": {0}},  # the top panel shares the bottom panel's x axis
    ),
    "loss_grid": (lambda t: plots.loss_grid(histories(**DECADES), t), {}),
    "overlay": (
        lambda t: plots.overlay(histories(), "val_loss", t, "validation cross-entropy"),
        {},
    ),
    "activation_histograms": (
        lambda t: plots.activation_histograms(nested_values(), t),
        # 2 rows x 3 columns: the x label under the bottom middle panel, y labels on the left
        {"no_xlabel": {0, 1, 2, 3, 5}, "no_ylabel": {1, 2, 4, 5}},
    ),
    "weight_histograms": (
        lambda t: plots.weight_histograms(nested_values(), t),
        {"no_xlabel": {0, 1, 2, 3, 5}, "no_ylabel": {1, 2, 4, 5}},
    ),
    "histogram_grid": (
        lambda t: plots.histogram_grid(nested_values(), t, "value"),
        {"no_xlabel": {0, 1, 2, 3, 5}, "no_ylabel": {1, 2, 4, 5}},
    ),
    "gap_vs_strength": (
        lambda t: plots.gap_vs_strength(
            {
                "l2": pd.DataFrame({"strength": [1e-5, 1e-3, 1e-1], "gap": [0.3, 0.2, 0.05]}),
                "l1": pd.DataFrame({"strength": [1e-5, 1e-3, 1e-1], "gap": [0.3, 0.1, -0.02]}),
            },
            t,
            "penalty strength lambda",
            baseline=0.4,
        ),
        {},
    ),
    "accuracy_bars": (
        lambda t: plots.accuracy_bars(
            pd.DataFrame(
                {"technique": ["none", "l2", "dropout"], "val_accuracy": [0.9, 0.93, 0.95]}
            ),
            t,
        ),
        {"no_ylabel": {0}},  # the bars are named by the y tick labels
    ),
    "per_layer_lines": (
        lambda t: plots.per_layer_lines(
            per_layer_frame(), ["mean", "std"], t, ["mean of the kernel", "std of the kernel"]
        ),
        {},
    ),
    "gradient_heatmap": (lambda t: plots.gradient_heatmap(grad_frame(), t), {}),
    "weight_change": (
        lambda t: plots.weight_change(
            np.random.default_rng(3).normal(size=(30, 8)),
            np.random.default_rng(4).normal(size=(30, 8)),
            t,
        ),
        {"no_ylabel": {1}},  # the change histogram shares the left panel's "count"
    ),
    "norms_by_depth": (lambda t: plots.norms_by_depth(depth_frames(), t), {}),
    "family_curves": (lambda t: plots.family_curves(histories(("A", "B")), t), {}),
    "accuracy_heatmaps": (
        lambda t: plots.accuracy_heatmaps(grid_table(), t),
        {"no_xlabel": {0, 1}},  # the columns are named by the x tick labels
    ),
    "validation_checks": (lambda t: plots.validation_checks(*checks_and_stops(), t), {}),
    "fit_losses": (
        lambda t: plots.fit_losses(fit_histories(), ["f1", "f2"], t, marks=FIT_MARKS),
        {},
    ),
    "fit_predictions": (lambda t: plots.fit_predictions(*fit_targets(), t), {}),
    "metrics_against": (
        lambda t: plots.metrics_against(size_table(), "parameters", t, "parameters", extra=EXTRA),
        {},
    ),
    "interpolation_curves": (lambda t: plots.interpolation_curves(interpolation_inputs(), t), {}),
    # 04: runs over seeds (mean line, min-max band); weights near zero per penalty
    "seed_family_curves": (
        lambda t: plots.seed_family_curves(
            {n: list(histories((n + "0", n + "1")).values()) for n in ("A", "B")}, t, x="epoch"
        ),
        {},
    ),
    "near_zero_weights": (
        lambda t: plots.near_zero_weights(
            pd.DataFrame(
                {
                    "run": ["B", "B + L2 0.01", "B + L1 0.001"],
                    "penalty": ["none", "l2", "l1"],
                    "strength": [0.0, 0.01, 0.001],
                    "near_zero": [0.01, 0.02, 0.3],
                    "near_zero_sd": [0.001, 0.002, 0.01],
                }
            ),
            {"B": np.linspace(-0.1, 0.1, 50), "B + L1 0.001": np.linspace(-1e-3, 1e-3, 51)},
            t,
            1e-3,
        ),
        {},
    ),
}


@functools.cache
def draw(name):
    """The case's figure, drawn once and shared by the tests that only read it (layout is slow)."""
    return CASES[name][0](TITLE)


def test_every_public_figure_function_has_a_case():
    """A figure function is public and takes the figure's `title` (panel helpers that draw into a
    given axes do not)."""
    figure_functions = {
        name
        for name, obj in inspect.getmembers(plots, inspect.isfunction)
        if obj.__module__ == plots.__name__
        and not name.startswith("_")
        and "title" in inspect.signature(obj).parameters
    }
    assert figure_functions == set(CASES), "add a case for each new figure function"


@pytest.mark.parametrize("name", list(CASES))
def test_figure_function_returns_a_figure_titled_with_the_given_title(name):
    fig = draw(name)
    assert isinstance(fig, Figure)
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    assert any(TITLE in t for t in titles), f"{TITLE!r} in none of {titles}"
    assert data_axes(fig), "the figure shows no data"


@pytest.mark.parametrize("name", list(CASES))
def test_every_data_panel_has_axis_labels(name):
    fig, exempt = draw(name), CASES[name][1]
    for i, ax in enumerate(data_axes(fig)):
        if i not in exempt.get("no_xlabel", ()):
            assert ax.get_xlabel().strip(), f"panel {i} ({ax.get_title()!r}) has no x label"
        if i not in exempt.get("no_ylabel", ()):
            assert ax.get_ylabel().strip(), f"panel {i} ({ax.get_title()!r}) has no y label"


@pytest.mark.parametrize("name", list(CASES))
def test_figure_is_saved_as_png_and_pdf_through_report(name, tmp_path):
    report = Report("plots", {}, out_dir=tmp_path)
    report.figure(draw(name), name, caption=f"the {name} figure")
    png, pdf = (tmp_path / "figures" / f"{name}.{ext}" for ext in ("png", "pdf"))
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert report.figures == [
        {
            "name": name,
            "caption": f"the {name} figure",
            "files": [f"figures/{name}.png", f"figures/{name}.pdf"],
        }
    ]


# ---------------------------------------------------------------- helpers: theme, colours, log rule


def test_set_theme_sets_the_packs_style():
    with matplotlib.rc_context():
        plt.rcParams["axes.titlesize"] = 20
        plt.rcParams["axes.grid"] = False
        plots.set_theme()
        assert plt.rcParams["axes.titlesize"] == 11
        assert plt.rcParams["figure.dpi"] == 100
        assert plt.rcParams["axes.grid"]  # whitegrid


@pytest.mark.parametrize(
    "count",
    [
        3,
        10,
        14,
        25,
    ],
)
def test_colors_gives_each_name_its_own_colour_kept_across_calls(count):
    names = [f"config {i}" for i in range(count)]
    palette = plots.colors(names)
    assert list(palette) == names
    assert len({tuple(c) for c in palette.values()}) == count
    assert plots.colors(names) == palette
    assert plots.colors(names[:2]) == {n: palette[n] for n in names[:2]}


@pytest.mark.parametrize(
    "values, expected",
    [
        ([1.0, 1000.0], True),
        ([0.001, 0.5, 1.0], True),
        ([1.0, 50.0], False),
        ([1.0, 100.0], False),  # exactly two decades: still linear
        ([5.0], False),
        ([], False),
        ([0.0, -3.0, 1.0, 2.0], False),  # zeros and negatives are left out
        ([0.0, 1e-6, 1.0], True),
        ([math.nan, math.inf, 1.0, 2.0], False),
        (np.array([[1.0, 2.0], [3.0, 5000.0]]), True),
    ],
)
def test_needs_log_when_positive_values_span_more_than_two_decades(values, expected):
    assert bool(plots.needs_log(values)) is expected


# ---------------------------------------------------------------- log scales where promised


def scales(fig):
    return [(ax.get_xscale(), ax.get_yscale()) for ax in data_axes(fig)]


LOG, LIN = "log", "linear"

SCALES = {
    "loss_grid, loss over decades": (
        lambda: plots.loss_grid(histories(("a", "b"), **DECADES), TITLE),
        [(LIN, LOG)] * 2,
    ),
    "loss_grid, loss within a decade": (
        lambda: plots.loss_grid(histories(("a", "b"), **FLAT), TITLE),
        [(LIN, LIN)] * 2,
    ),
    "loss_grid, accuracy": (
        lambda: plots.loss_grid(histories(("a", "b"), **DECADES), TITLE, metric="accuracy"),
        [(LIN, LIN)] * 2,
    ),
    "overlay over decades": (
        lambda: plots.overlay(histories(**DECADES), "val_loss", TITLE, "loss"),
        [(LIN, LOG)],
    ),
    "overlay within a decade": (
        lambda: plots.overlay(histories(**FLAT), "val_loss", TITLE, "loss"),
        [(LIN, LIN)],
    ),
    "gap_vs_strength over decades": (lambda: draw("gap_vs_strength"), [(LOG, LIN)]),
    "gap_vs_strength, dropout rates": (
        lambda: plots.gap_vs_strength(
            {"dropout": pd.DataFrame({"strength": [0.1, 0.3, 0.5], "gap": [0.2, 0.1, 0.0]})},
            TITLE,
        ),
        [(LIN, LIN)],
    ),
    "norms_by_depth": (lambda: draw("norms_by_depth"), [(LIN, LOG)]),
    "family_curves": (lambda: draw("family_curves"), [(LIN, LOG), (LIN, LIN)]),
    "validation_checks within a decade": (lambda: draw("validation_checks"), [(LIN, LIN)]),
    "validation_checks over decades": (
        lambda: plots.validation_checks(
            {"a": pd.DataFrame({"step": [1, 2, 3], "val_loss": [10.0, 0.1, 0.01]})},
            {"a": None},
            TITLE,
        ),
        [(LIN, LOG)],
    ),
    "fit_losses": (lambda: draw("fit_losses"), [(LOG, LOG)] * 2),
    "metrics_against, log x, losses over decades": (
        lambda: draw("metrics_against"),
        [(LOG, LOG), (LOG, LIN), (LOG, LOG)],
    ),
    "metrics_against, linear x, losses within a decade": (
        lambda: plots.metrics_against(
            size_table(decades=False), "parameters", TITLE, "n", logx=False
        ),
        [(LIN, LIN), (LIN, LIN)],
    ),
    "interpolation_curves": (lambda: draw("interpolation_curves"), [(LIN, LOG), (LIN, LIN)] * 2),
}


@pytest.mark.parametrize("case", list(SCALES))
def test_log_axes_where_promised_and_only_there(case):
    make, expected = SCALES[case]
    assert scales(make()) == expected


def test_gradient_heatmap_colours_on_a_log_scale_with_the_input_layer_on_top():
    fig = draw("gradient_heatmap")
    (ax,) = data_axes(fig)
    norm = ax.collections[0].norm
    assert isinstance(norm, LogNorm)
    assert norm.vmin == pytest.approx(grad_frame().grad_norm.min())
    assert norm.vmax == pytest.approx(grad_frame().grad_norm.max())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(LAYERS)
    colorbar = next(a for a in fig.axes if a.get_label() == "<colorbar>")
    assert "gradient norm" in colorbar.get_ylabel()


# ------------------------------------------------------- legends where there are several series


def legend_texts(ax):
    legend = ax.get_legend()
    return None if legend is None else [t.get_text() for t in legend.get_texts()]


LEGENDS = {
    "loss_grid": {i: ["train", "validation"] for i in range(3)},
    "overlay": {0: ["sgd", "adam", "rmsprop"]},
    "gap_vs_strength": {0: ["l2", "l1", "no regularization"]},
    "per_layer_lines": {1: list(LAYERS)},
    "weight_change": {0: ["first epoch (initial)", "last epoch"]},
    "norms_by_depth": {0: ["sigmoid", "relu"]},
    "family_curves": {1: ["A (train)", "A (validation)", "B (train)", "B (validation)"]},
    "validation_checks": {0: ["bn", "plain"]},  # one seed: no "stopped k of n" count
    "fit_losses": {0: ["1 hidden", "2 hidden"], 1: ["1 hidden", "2 hidden"]},
    "fit_predictions": {i: ["target", "1 hidden layers", "2 hidden layers"] for i in (0, 1)},
    "metrics_against": {0: ["train", "test"], 1: ["train", "test"]},
    "interpolation_curves": {
        i: ["train", "test", f"alpha 0: {a}", f"alpha 1: {b}"]
        for i, (a, b) in enumerate([("batch 32", "batch 1024")] * 2 + [("seed 0", "seed 1")] * 2)
    },
}


@pytest.mark.parametrize("name", list(LEGENDS))
def test_figures_with_several_series_name_them_in_a_legend(name):
    panels = data_axes(draw(name))
    for index, expected in LEGENDS[name].items():
        assert legend_texts(panels[index]) == expected, f"panel {index}"


def test_family_curves_on_the_test_set_names_it_in_the_legend():
    fig = plots.family_curves(
        {"true labels": history().rename(columns=lambda c: c.replace("val_", "test_"))},
        TITLE,
        held_out="test",
    )
    assert legend_texts(data_axes(fig)[1]) == ["true labels (train)", "true labels (test)"]


# ---------------------------------------------------------------- what each figure shows


def test_loss_grid_panels_are_named_and_share_a_y_label_when_sharing_the_y_axis():
    names = ("a", "b", "c", "d")
    fig = plots.loss_grid(histories(names), TITLE, ncols=3, sharey=True)
    panels = data_axes(fig)
    assert [ax.get_title() for ax in panels] == list(names)
    assert len(fig.axes) == 6 and sum(ax.get_visible() for ax in fig.axes) == 4  # 2 rows of 3
    assert [bool(ax.get_ylabel()) for ax in panels] == [True, False, False, True]
    assert panels[0].get_ylabel() == "cross-entropy loss"
    assert all(ax.get_xlabel() == "epoch" for ax in panels)
    train, validation = panels[1].lines[:2]
    np.testing.assert_allclose(train.get_ydata(), histories(names)["b"]["loss"])
    np.testing.assert_allclose(validation.get_ydata(), histories(names)["b"]["val_loss"])
    assert validation.get_linestyle() == "--"
    assert train.get_color() == validation.get_color()


def test_loss_grid_of_accuracy_labels_the_metric():
    fig = plots.loss_grid(histories(("a",)), TITLE, ncols=1, metric="accuracy")
    (ax,) = data_axes(fig)
    assert ax.get_ylabel() == "accuracy"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), history()["accuracy"])


def test_a_configuration_keeps_its_colour_across_figures():
    runs = histories()
    grid, lines = plots.loss_grid(runs, TITLE), plots.overlay(runs, "val_loss", TITLE, "loss")
    for panel, line in zip(data_axes(grid), data_axes(lines)[0].lines):
        assert panel.lines[0].get_color() == line.get_color()


@pytest.mark.parametrize(
    "name, xlabel",
    [
        ("activation_histograms", "non-zero activation value (ReLU output)"),
        ("weight_histograms", "weight value"),
        ("histogram_grid", "value"),
    ],
)
def test_histogram_grids_have_a_row_per_configuration_and_a_column_per_layer(name, xlabel):
    panels = data_axes(draw(name))
    assert len(panels) == 6
    assert [ax.get_title() for ax in panels[:3]] == list(LAYERS)
    assert [panels[0].get_ylabel(), panels[3].get_ylabel()] == ["he_normal", "zeros"]
    assert panels[4].get_xlabel() == xlabel
    for ax in panels:
        (stats,) = [t.get_text() for t in ax.texts]
        assert stats.startswith("mean ") and "\nstd " in stats and "\nzeros " in stats


def test_activation_histograms_leave_the_zeros_out_and_say_when_all_are_zero():
    values = nested_values(zero_layer="dense_1")
    fig = plots.activation_histograms(values, TITLE, bins=10)
    panels = fig.axes  # 2 rows x 3 columns, the all-zero panel included
    counted = sum(p.get_height() for p in panels[0].patches)
    assert counted == np.count_nonzero(values["he_normal"]["dense"])
    empty = panels[4]  # zeros / dense_1
    assert not empty.patches
    assert "all values are 0" in [t.get_text() for t in empty.texts]
    assert any("zeros 100%" in t.get_text() for t in empty.texts)


def test_weight_histograms_count_every_weight_zeros_included():
    values = nested_values()
    fig = plots.weight_histograms(values, TITLE, bins=10)
    counted = sum(p.get_height() for p in fig.axes[0].patches)
    assert counted == values["he_normal"]["dense"].size


def test_accuracy_bars_show_each_value_and_name_the_bars():
    table = pd.DataFrame(
        {"technique": ["none", "l2", "dropout"], "val_accuracy": [0.9, 0.93, 0.95]}
    )
    (ax,) = data_axes(plots.accuracy_bars(table, TITLE))
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.9, 0.93, 0.95])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["none", "l2", "dropout"]
    assert [t.get_text().strip() for t in ax.texts] == ["90.0%", "93.0%", "95.0%"]
    assert ax.get_xlabel() == "final validation accuracy"
    assert ax.get_xlim() == pytest.approx((0.0, 1.0))  # bars from 0: lengths compare


def test_accuracy_bars_of_another_column_label_it():
    table = pd.DataFrame({"setting": ["train, batch 32"], "test_accuracy": [0.8]})
    (ax,) = data_axes(plots.accuracy_bars(table, TITLE, label="setting", value="test_accuracy"))
    assert ax.get_xlabel() == "test accuracy"


def test_accuracy_heatmaps_have_a_panel_per_network_with_the_accuracy_in_percent():
    table = grid_table()
    fig = plots.accuracy_heatmaps(table, TITLE)
    panels = data_axes(fig)
    assert [ax.get_title() for ax in panels] == ["network: plain", "network: bn"]
    plain = panels[0]
    assert plain.get_ylabel() == "batch size"
    assert [t.get_text() for t in plain.get_yticklabels()] == ["32", "128"]
    assert [t.get_text() for t in plain.get_xticklabels()] == [
        "epochs 5\nl2 0",
        "epochs 5\nl2 0.01",
        "epochs 10\nl2 0",
        "epochs 10\nl2 0.01",
    ]
    first = table.query("network == 'plain' and batch_size == 32 and epochs == 5 and l2 == 0")
    assert plain.texts[0].get_text() == f"{first.test_accuracy.iloc[0] * 100:.1f}"
    assert sum(a.get_label() == "<colorbar>" for a in fig.axes) == 1  # one shared scale


def test_per_layer_lines_draw_one_line_per_layer_in_each_panel():
    panels = data_axes(draw("per_layer_lines"))
    assert [ax.get_ylabel() for ax in panels] == ["mean of the kernel", "std of the kernel"]
    for ax in panels:
        assert [line.get_label() for line in ax.lines] == list(LAYERS)
        assert ax.get_xlabel() == "epoch (0 = initialization)"


def test_weight_change_shows_the_mean_absolute_change():
    start, end = np.zeros((4, 5)), np.full((4, 5), 0.25)
    left, right = data_axes(plots.weight_change(start, end, TITLE))
    assert right.get_title() == "change: mean |dw| = 2.50e-01"
    assert left.get_xlabel() == "weight value" and right.get_xlabel() == "last - first"


def test_norms_by_depth_plot_layers_in_order_from_one():
    (ax,) = data_axes(draw("norms_by_depth"))
    sigmoid = ax.lines[0]
    assert list(sigmoid.get_xdata()) == [1, 2, 3]
    np.testing.assert_allclose(sigmoid.get_ydata(), depth_frames()["sigmoid"].grad_norm)


def test_validation_checks_mark_where_a_run_stopped():
    (ax,) = data_axes(draw("validation_checks"))
    marks = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(marks) == 1  # plain ran to the end: no mark
    assert list(marks[0].get_xdata()) == [500]
    assert list(marks[0].get_ydata()) == [0.55]


def test_fit_losses_mark_convergence_only_for_runs_with_an_epoch():
    panels = data_axes(draw("fit_losses"))
    assert [ax.get_title() for ax in panels] == ["f1", "f2"]
    dots = [[line for line in ax.lines if line.get_marker() == "o"] for ax in panels]
    assert [len(d) for d in dots] == [1, 0]  # f1, 1 hidden at 30; None and NaN: no dot
    assert list(dots[0][0].get_xdata()) == [30]
    expected = fit_histories()["f1, 1 hidden"].loss.iloc[29]
    assert dots[0][0].get_ydata()[0] == pytest.approx(expected)


def test_fit_predictions_draw_the_target_and_each_prediction_per_function():
    targets, predictions = fit_targets()
    panels = data_axes(plots.fit_predictions(targets, predictions, TITLE))
    assert [ax.get_title() for ax in panels] == ["f1", "f2"]
    target = panels[1].lines[0]
    np.testing.assert_allclose(target.get_ydata(), targets["f2"][1][:, 0])
    assert target.get_color() == "black"
    np.testing.assert_allclose(panels[1].lines[2].get_ydata(), predictions["f2", "2 hidden layers"])


def test_metrics_against_sorts_by_x_and_adds_a_panel_per_extra_column():
    panels = data_axes(draw("metrics_against"))
    assert [ax.get_ylabel() for ax in panels] == [
        "cross-entropy loss",
        "accuracy",
        "sensitivity (mean Jacobian norm)",
    ]
    train = panels[0].lines[0]
    assert list(train.get_xdata()) == [1e3, 1e4, 1e5, 1e6]
    np.testing.assert_allclose(train.get_ydata(), np.geomspace(2.0, 1e-4, 4))
    assert all(ax.get_xlabel() == "parameters" for ax in panels)


def test_interpolation_curves_have_a_row_per_pair_and_mark_the_trained_models():
    fig = draw("interpolation_curves")
    panels = data_axes(fig)
    assert [ax.get_title() for ax in panels] == ["small vs large batch"] * 2 + ["two seeds"] * 2
    vertical = [line for line in panels[0].lines if line.get_label().startswith("alpha")]
    assert [list(line.get_xdata()) for line in vertical] == [[0, 0], [1, 1]]
