"""Regularization: label noise, input noise, weight penalties, augmentation, dropout rates."""

import keras
import numpy as np
import pytest

from labs_lib import data, models, regularization


@pytest.fixture(scope="module")
def tiny():
    return data.load("synthetic", like="mnist", n_train=200, n_val=50, n_test=50, seed=0)


def test_label_noise_rows_are_probability_distributions_with_the_true_class_largest():
    y = np.random.default_rng(0).integers(0, 10, size=5000)
    t = regularization.label_noise(y, 10, scale=0.1, seed=1)
    assert t.shape == (5000, 10) and t.dtype == np.float32
    assert (t >= 0).all()
    np.testing.assert_allclose(t.sum(axis=1), 1.0, atol=1e-6)
    assert (t.argmax(axis=1) == y).all()
    eps = 1 - t[np.arange(len(y)), y]
    assert eps.mean() == pytest.approx(0.1 * np.sqrt(2 / np.pi), rel=0.05)  # mean of |N(0, 0.1^2)|
    others = np.where(np.eye(10, dtype=bool)[y], np.nan, t)
    np.testing.assert_allclose(
        np.nanmax(others, axis=1), np.nanmin(others, axis=1)
    )  # spread evenly


def test_label_noise_stays_a_distribution_even_with_a_huge_scale():
    t = regularization.label_noise(np.arange(10), 10, scale=50.0, seed=0)
    assert (t >= 0).all() and np.allclose(t.sum(axis=1), 1.0)


def test_with_label_noise_changes_training_targets_only(tiny):
    noisy = regularization.with_label_noise(tiny, 0.1, seed=0)
    np.testing.assert_array_equal(noisy.x_train, tiny.x_train)
    np.testing.assert_array_equal(noisy.x_val, tiny.x_val)
    np.testing.assert_array_equal(
        noisy.y_val, np.eye(10)[tiny.y_val]
    )  # exact one-hot: untouched labels
    np.testing.assert_array_equal(noisy.y_test, np.eye(10)[tiny.y_test])
    assert not np.array_equal(noisy.y_train, np.eye(10)[tiny.y_train])
    np.testing.assert_array_equal(noisy.y_train.argmax(1), tiny.y_train)


def test_target_entropy_is_zero_for_one_hot_and_ln10_for_uniform():
    assert regularization.target_entropy(np.eye(10)) == pytest.approx(0.0, abs=1e-9)
    assert regularization.target_entropy(np.full((3, 10), 0.1)) == pytest.approx(np.log(10))


def test_noise_stddev_is_the_square_root_of_the_variance():
    assert regularization.noise_stddev(0.2) == pytest.approx(0.4472136)
    assert regularization.noise_stddev(0.05) == pytest.approx(0.2236068)
    with pytest.raises(ValueError, match="variance must be >= 0, got -1"):
        regularization.noise_stddev(-1)


def test_input_noise_is_active_in_training_only_with_the_variance_asked_for():
    net = models.mlp((1000,), (4,), input_noise_variance=0.2)
    noise = next(layer for layer in net.layers if isinstance(layer, keras.layers.GaussianNoise))
    x = np.zeros((200, 1000), "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(noise(x, training=False)), x)
    noisy = keras.ops.convert_to_numpy(noise(x, training=True))
    assert noisy.var() == pytest.approx(0.2, rel=0.02)
    np.testing.assert_array_equal(
        np.asarray(net(x, training=False)), np.asarray(net(x, training=False))
    )


def test_dropout_is_active_in_training_only():
    net = models.mlp((50,), (400,), dropout=0.5)
    drop = next(layer for layer in net.layers if isinstance(layer, keras.layers.Dropout))
    x = np.ones((10, 400), "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(drop(x, training=False)), x)
    kept = keras.ops.convert_to_numpy(drop(x, training=True))
    assert set(np.unique(kept)) <= {0.0, 2.0} and 0.4 < (kept == 0).mean() < 0.6


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_weight_penalty_equals_its_formula_on_a_small_layer(kind):
    net = models.mlp(
        (3,), (4,), penalty=kind, strength=0.01, kernel_initializer="he_normal", seed=5
    )
    kernels = [np.asarray(layer.kernel, dtype="float64") for layer in models.dense_layers(net)]
    expected = 0.01 * sum(np.abs(k).sum() if kind == "l1" else (k**2).sum() for k in kernels)
    net(np.zeros((1, 3), "float32"))
    assert regularization.keras_penalty(net) == pytest.approx(expected, rel=1e-5)
    assert regularization.penalty(kernels, kind, 0.01) == pytest.approx(expected)
    penalized = regularization.dense_kernels(net, penalized=True)
    assert [k.shape for k in penalized] == [(3, 4), (4, 10)]
    assert regularization.penalty(penalized, kind, 0.01) == pytest.approx(expected, rel=1e-6)


def test_dense_kernels_with_penalized_leaves_out_the_layers_without_a_regularizer():
    net = models.mlp((3,), (4,), seed=5)
    assert [k.shape for k in regularization.dense_kernels(net)] == [(3, 4), (4, 10)]
    assert regularization.dense_kernels(net, penalized=True) == []
    assert regularization.keras_penalty(net) == 0.0


def test_weight_penalty_refuses_unknown_kinds_and_negative_strengths():
    with pytest.raises(ValueError, match=r"penalty must be one of \{l1, l2\}, got 'l3'"):
        regularization.weight_penalty("l3", 0.1)
    with pytest.raises(ValueError, match="strength must be >= 0, got -0.1"):
        regularization.weight_penalty("l2", -0.1)


def test_augmentation_keeps_shapes_and_value_range_and_is_identity_at_inference(tiny):
    aug = regularization.augmentation(0.1, 0.1, 10.0, seed=0)
    x = tiny.x_train[:64]
    out = keras.ops.convert_to_numpy(aug(x, training=True))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
    assert not np.allclose(out, x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(aug(x, training=False)), x)


def test_dropout_rates_repeat_the_last_rate_and_refuse_bad_ones():
    assert models.dropout_rates(0.5, 3) == [0.5, 0.5, 0.5]
    assert models.dropout_rates([0.4, 0.2], 3) == [0.4, 0.2, 0.2]
    for bad in (1.0, -0.1, [0.1, 0.2, 0.3, 0.4]):
        with pytest.raises(ValueError, match="dropout must be"):
            models.dropout_rates(bad, 3)


def test_regularizers_add_no_parameters():
    plain = models.mlp((28, 28, 1), (100, 100, 100))
    regular = models.mlp(
        (28, 28, 1),
        (100, 100, 100),
        penalty="l2",
        strength=1e-3,
        dropout=0.5,
        input_noise_variance=0.2,
        augment=regularization.augmentation(),
    )
    assert regular.count_params() == plain.count_params() == 99710
