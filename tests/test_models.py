"""Model builders: shapes, parameter counts, initializers (scale, seeding, errors)."""

import numpy as np
import pytest

from labs_lib import models


def test_mlp_of_the_spec_has_784_100_100_100_10_shape_and_99710_parameters():
    net = models.mlp((28, 28, 1), hidden=(100, 100, 100))
    assert net.count_params() == 784 * 100 + 100 + 2 * (100 * 100 + 100) + 100 * 10 + 10 == 99710
    out = net(np.zeros((4, 28, 28, 1), "float32"))
    assert tuple(out.shape) == (4, 10)
    assert [layer.name for layer in models.dense_layers(net)] == [
        "hidden_1",
        "hidden_2",
        "hidden_3",
        "logits",
    ]


@pytest.mark.parametrize("name, value", [("zeros", 0.0), ("ones", 1.0)])
def test_constant_initializers_fill_every_kernel(name, value):
    net = models.mlp((8,), hidden=(5, 4), kernel_initializer=name)
    for layer in models.dense_layers(net):
        np.testing.assert_array_equal(np.asarray(layer.kernel), value)
        np.testing.assert_array_equal(np.asarray(layer.bias), 0.0)


@pytest.mark.parametrize(
    "name, expected_std",
    [
        ("he_normal", lambda fan_in, fan_out: np.sqrt(2 / fan_in)),
        ("glorot_normal", lambda fan_in, fan_out: np.sqrt(2 / (fan_in + fan_out))),
        ("random_normal", lambda fan_in, fan_out: 0.05),
    ],
)
def test_random_initializers_have_the_scale_of_their_formula(name, expected_std):
    net = models.mlp((784,), hidden=(300,), kernel_initializer=name, seed=3)
    kernel = np.asarray(net.get_layer("hidden_1").kernel)
    assert abs(kernel.mean()) < 0.01 * expected_std(784, 300) + 1e-3
    assert kernel.std() == pytest.approx(expected_std(784, 300), rel=0.05)


def test_random_normal_uses_the_given_stddev():
    net = models.mlp((784,), hidden=(300,), kernel_initializer="random_normal", stddev=0.5)
    assert np.asarray(net.get_layer("hidden_1").kernel).std() == pytest.approx(0.5, rel=0.05)


def test_same_seed_same_weights_different_seed_different_weights():
    a, b, c = (
        models.mlp((20,), hidden=(10,), kernel_initializer="he_normal", seed=s) for s in (1, 1, 2)
    )
    ka, kb, kc = (np.asarray(m.get_layer("hidden_1").kernel) for m in (a, b, c))
    np.testing.assert_array_equal(ka, kb)
    assert not np.allclose(ka, kc)


def test_unknown_initializer_is_refused_with_the_allowed_names():
    with pytest.raises(ValueError, match=r"initializer must be one of \{zeros.*got 'xavier'"):
        models.mlp((8,), kernel_initializer="xavier")


def test_empty_or_nonpositive_hidden_widths_are_refused():
    with pytest.raises(ValueError, match="hidden must be"):
        models.mlp((8,), hidden=())
    with pytest.raises(ValueError, match=r"got \[10, 0\]"):
        models.mlp((8,), hidden=(10, 0))


def test_batch_norm_network_normalizes_each_hidden_layer_before_its_activation():
    net = models.mlp((6,), hidden=(5, 4), activation="sigmoid", batch_norm=True)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == [
        "Flatten",
        "Dense",
        "BatchNormalization",
        "Activation",
        "Dense",
        "BatchNormalization",
        "Activation",
        "Dense",
    ]
    assert net.get_layer("hidden_1").use_bias is False
    assert tuple(net(np.zeros((2, 6), "float32")).shape) == (2, 10)


def test_batch_norm_scratch_uses_the_from_scratch_layer_with_the_packs_momentum():
    net = models.mlp((6,), hidden=(5, 4), batch_norm="scratch")
    norms = [layer for layer in net.layers if "batch_norm" in layer.name]
    assert [type(layer).__name__ for layer in norms] == ["BatchNorm", "BatchNorm"]
    assert norms[0].momentum == models.BN_MOMENTUM
    with pytest.raises(ValueError, match="batch_norm must be False, True or 'scratch', got 'yes'"):
        models.mlp((6,), hidden=(5,), batch_norm="yes")


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_mlp_accepts_the_activations_of_notebook_03(activation):
    net = models.mlp((6,), hidden=(5,), activation=activation)
    x = np.linspace(-3, 3, 12, dtype="float32").reshape(2, 6)
    assert np.isfinite(np.asarray(net(x))).all()


# ----------------------------------------------------------- networks of a given size (notebook 06)


@pytest.mark.parametrize("depth", [1, 4, 7])
def test_widths_for_budget_hit_the_budget_within_one_percent(depth):
    widths = models.widths_for_budget(depth, 571)
    assert len(widths) == depth
    built = models.regressor(widths)
    assert built.count_params() == models.dense_param_count(widths)
    assert abs(built.count_params() - 571) <= 5.71


def test_widths_for_budget_refuses_an_impossible_budget():
    with pytest.raises(ValueError, match="budget of at least"):
        models.widths_for_budget(7, 10)


@pytest.mark.parametrize("n_dense", [1, 2, 4])
def test_cnn_for_budget_builds_cnns_of_25500_parameters_within_one_percent(n_dense):
    conv, dense = models.cnn_for_budget(n_dense, 25500)
    net = models.cnn(conv, dense)
    assert len(conv) == 2 and len(models.dense_layers(net)) == n_dense
    assert net.count_params() == models.cnn_param_count(conv, dense)
    assert abs(net.count_params() - 25500) <= 255
    assert tuple(net(np.zeros((2, 28, 28, 1), "float32")).shape) == (2, 10)
