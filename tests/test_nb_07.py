"""07 optimization: exact critical points (Newton on grad L = 0, the decisive eigenvalue) and the
figures of notebook 07 (PCA paths, critical points)."""

import keras
import matplotlib
import numpy as np
import pandas as pd

from labs_lib import diagnostics, plots

matplotlib.use("Agg")


def saddle():
    """L(w) = w0^2 - w1^2 + w1^4 / 2: critical points at w1 = 0 (a saddle) and w1 = +-1 (minima)."""

    def loss_and_gradient(w):
        return w[0] ** 2 - w[1] ** 2 + w[1] ** 4 / 2, np.array(
            [2 * w[0], -2 * w[1] + 2 * w[1] ** 3]
        )

    def hessian_at(w):
        return np.diag([2.0, -2.0 + 6 * w[1] ** 2])

    return loss_and_gradient, hessian_at


def test_newton_critical_point_reaches_the_nearest_critical_point_of_either_kind():
    loss_and_gradient, hessian_at = saddle()
    w, norms = diagnostics.newton_critical_point(
        [0.3, 0.2], loss_and_gradient, hessian_at, steps=30
    )
    np.testing.assert_allclose(w, [0.0, 0.0], atol=1e-8)  # the saddle, not a minimum
    assert norms[-1] < 1e-10 and all(b < a for a, b in zip(norms, norms[1:]))
    w, _ = diagnostics.newton_critical_point([0.1, 0.9], loss_and_gradient, hessian_at, steps=30)
    np.testing.assert_allclose(w, [0.0, 1.0], atol=1e-8)  # the minimum
    w, norms = diagnostics.newton_critical_point([0.1, 0.9], loss_and_gradient, hessian_at, steps=0)
    np.testing.assert_allclose(w, [0.1, 0.9])
    assert len(norms) == 1


def test_decisive_eigenvalue_is_the_most_negative_or_the_smallest_positive():
    assert diagnostics.decisive_eigenvalue([-3.0, -0.1, 1e-9, 2.0]) == 3.0  # a saddle
    assert diagnostics.decisive_eigenvalue([1e-9, 0.5, 2.0]) == 0.5  # a minimum, 1e-9 is flat
    assert diagnostics.decisive_eigenvalue([-1e-9, 0.5, 2.0], rel_tol=1e-6) == 0.5
    assert diagnostics.decisive_eigenvalue([0.0, 0.0]) == 0.0


def test_loss_and_gradient_function_matches_the_known_gradient_of_a_linear_mse():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    linear = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    at = diagnostics.loss_and_gradient_function(linear, x, y)
    w = np.array([0.5, -1.0, 2.0])
    loss, gradient = at(w)
    residual = x @ w[:, None] - y
    np.testing.assert_allclose(loss, np.mean(residual**2), rtol=1e-10)
    np.testing.assert_allclose(gradient, 2 * (x.T @ residual).ravel() / 40, rtol=1e-10)
    # one Newton step solves a quadratic loss exactly
    hessian_at = diagnostics.hessian_function(linear, x, y)
    solved, norms = diagnostics.newton_critical_point(w, at, hessian_at, steps=3, damping=1e-12)
    assert norms[-1] < 1e-10
    np.testing.assert_allclose(solved, np.linalg.lstsq(x, y, rcond=None)[0].ravel(), atol=1e-8)


def test_pca_paths_put_final_accuracies_in_the_legend_and_no_labels_on_the_paths():
    rng = np.random.default_rng(2)
    panels = {p: {r: rng.normal(size=(5, 2)) for r in ("run 0", "run 1")} for p in ("a", "b")}
    fig = plots.pca_paths(panels, {"run 0": 0.91, "run 1": 0.925}, "t", {"a": [0.5, 0.2]})
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert all(not ax.texts for ax in axes)
    labels = [t.get_text() for t in axes[-1].get_legend().get_texts()]
    assert labels == ["run 0: 0.910", "run 1: 0.925"]
    assert axes[0].get_xlabel() == "PC 1 (50% of variance)" and axes[1].get_xlabel() == "PC 1"


def test_critical_points_plot_log_axes_and_count_both_kinds():
    table = pd.DataFrame(
        {
            "minimal_ratio": [0.5, 0.9, 1.0],
            "loss": [1e-3, 2e-3, 0.08],
            "grad_norm": [1e-4, 2e-4, 1e-9],
            "lambda_decisive": [1e-4, 2e-4, 1e-3],
            "critical": [False, False, True],
        }
    )
    left, right = plots.critical_points(table, "t", 1e-3).axes
    assert left.get_yscale() == "log" and right.get_yscale() == "log"
    assert right.get_xscale() == "log"
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert labels == ["not critical (not classified): 2", "critical: 1"]


def test_loss_and_grad_norm_seeds_draw_one_line_per_seed_on_log_axes():
    epochs = np.arange(1, 11)
    runs = [
        pd.DataFrame({"epoch": epochs, "loss": np.geomspace(1, 1e-3 * s, 10), "grad_norm": epochs})
        for s in (1, 2, 3)
    ]
    top, bottom = plots.loss_and_grad_norm_seeds(runs, "t").axes
    assert len(top.lines) == 3 and len(bottom.lines) == 3
    assert top.get_yscale() == "log" and bottom.get_yscale() == "log"
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["seed 1", "seed 2", "seed 3"]
