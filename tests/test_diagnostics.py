"""Diagnostics: activations against a numpy forward pass, unit spread, weight statistics."""
import numpy as np
import pytest

from labs_lib import diagnostics, models


def test_hidden_activations_equal_a_numpy_relu_forward_pass():
    net = models.mlp((6,), hidden=(5, 4), kernel_initializer="glorot_normal", seed=1)
    x = np.random.default_rng(0).normal(size=(7, 6)).astype("float32")
    acts = diagnostics.hidden_activations(net, x)
    assert list(acts) == ["hidden_1", "hidden_2"]
    h = x
    for name in acts:
        layer = net.get_layer(name)
        h = np.maximum(h @ np.asarray(layer.kernel) + np.asarray(layer.bias), 0)
        np.testing.assert_allclose(acts[name], h, rtol=1e-5, atol=1e-6)


def test_unit_spread_is_zero_for_identical_units_and_the_largest_gap_otherwise():
    assert diagnostics.unit_spread(np.tile([[1.0], [2.0], [-3.0]], (1, 4))) == 0.0
    kernel = np.array([[0.0, 1.0, 0.5], [2.0, -1.0, 0.0]])
    assert diagnostics.unit_spread(kernel) == pytest.approx(3.0)


def test_weight_stats_equal_numpy_mean_and_std():
    net = models.mlp((6,), hidden=(5,), kernel_initializer="he_normal", seed=2)
    stats = diagnostics.weight_stats(net).set_index("layer")
    for layer in models.dense_layers(net):
        kernel = np.asarray(layer.kernel)
        assert stats.loc[layer.name, "mean"] == pytest.approx(kernel.mean(), abs=1e-7)
        assert stats.loc[layer.name, "std"] == pytest.approx(kernel.std(), rel=1e-6)
