"""The from-scratch BatchNorm against keras.layers.BatchNormalization and numpy references."""

import keras
import numpy as np
import pytest

from labs_lib.layers import BatchNorm

TOL = dict(rtol=1e-5, atol=1e-5)
EPS = 1e-3


def batch(seed, n=64, d=7):
    return np.random.default_rng(seed).normal(3.0, 2.0, size=(n, d)).astype("float32")


def random_weights(seed, d=7):
    """gamma, beta, moving_mean, moving_variance (the variance positive), in Keras's order."""
    rng = np.random.default_rng(seed)
    return [rng.normal(1, 0.3, d), rng.normal(0, 0.5, d), rng.normal(3, 1, d), rng.uniform(1, 5, d)]


def twin_layers(weights=None):
    """A BatchNorm and a keras BatchNormalization, built for 7 features, with the same weights."""
    scratch, ref = (
        BatchNorm(momentum=0.9, epsilon=EPS),
        keras.layers.BatchNormalization(momentum=0.9, epsilon=EPS),
    )
    for layer in (scratch, ref):
        layer.build((None, 7))
        if weights is not None:
            layer.set_weights([w.astype("float32") for w in weights])
    return scratch, ref


def moving_stats(layer):
    return keras.ops.convert_to_numpy(layer.moving_mean), keras.ops.convert_to_numpy(
        layer.moving_variance
    )


def test_weights_match_keras_order_shapes_and_initial_values():
    scratch, ref = twin_layers()
    assert [w.path.split("/")[-1] for w in scratch.weights] == [
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ]
    assert [w.shape for w in scratch.weights] == [w.shape for w in ref.weights]
    assert len(scratch.trainable_weights) == 2 and len(scratch.non_trainable_weights) == 2
    for mine, theirs in zip(scratch.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_output_matches_keras_batch_normalization(training):
    scratch, ref = twin_layers(random_weights(1))
    x = batch(0)
    out = keras.ops.convert_to_numpy(scratch(x, training=training))
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(ref(x, training=training)), **TOL)
    assert out.shape == x.shape == scratch.compute_output_shape(x.shape)


def test_moving_statistics_follow_keras_and_the_running_average_formula():
    weights = random_weights(2)
    scratch, ref = twin_layers(weights)
    mean, var = weights[2].astype("float64"), weights[3].astype("float64")
    for seed in range(5):
        x = batch(10 + seed)
        scratch(x, training=True)
        ref(x, training=True)
        mean = 0.9 * mean + 0.1 * x.mean(axis=0)
        var = 0.9 * var + 0.1 * x.var(axis=0)  # biased variance, as Keras stores it
    for mine, theirs, expected in zip(moving_stats(scratch), moving_stats(ref), (mean, var)):
        np.testing.assert_allclose(mine, theirs, **TOL)
        np.testing.assert_allclose(mine, expected, **TOL)


def test_training_output_has_zero_mean_and_the_predicted_variance():
    scratch, _ = twin_layers()  # gamma = 1, beta = 0
    x = batch(3)
    out = keras.ops.convert_to_numpy(scratch(x, training=True)).astype("float64")
    assert np.abs(out.mean(axis=0)).max() < 1e-5
    var = x.astype("float64").var(axis=0)
    np.testing.assert_allclose(out.var(axis=0), var / (var + EPS), **TOL)


def test_inference_leaves_moving_statistics_alone():
    scratch, _ = twin_layers(random_weights(4))
    before = moving_stats(scratch)
    scratch(batch(5), training=False)
    scratch(batch(6))  # training defaults to False
    for a, b in zip(before, moving_stats(scratch)):
        np.testing.assert_array_equal(a, b)


def test_training_output_ignores_moving_statistics():
    weights = random_weights(7)
    a, _ = twin_layers(weights)
    b, _ = twin_layers(weights[:2] + random_weights(8)[2:])
    x = batch(9)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(a(x, training=True)),
        keras.ops.convert_to_numpy(b(x, training=True)),
        **TOL,
    )


def fit_losses(norm_layer, weights=None):
    """Train Input(20) -> Dense(8) -> norm -> ReLU -> Dense(3) for 2 epochs; the model and its
    losses."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(8, use_bias=False),
            norm_layer,
            keras.layers.ReLU(),
            keras.layers.Dense(3),
        ]
    )
    if weights is not None:
        model.set_weights(weights)
    initial = model.get_weights()
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(128, 20)).astype("float32"), rng.integers(0, 3, size=128)
    history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    return model, initial, history.history["loss"]


def test_fit_trains_like_keras_batch_normalization():
    model, initial, losses = fit_losses(BatchNorm())
    assert np.isfinite(losses).all()
    mean, var = moving_stats(model.layers[1])
    assert np.abs(mean).max() > 1e-3 and np.abs(var - 1).max() > 1e-3  # moved off zeros / ones
    _, _, keras_losses = fit_losses(keras.layers.BatchNormalization(), weights=initial)
    np.testing.assert_allclose(losses, keras_losses, rtol=0, atol=1e-4)


def test_get_config_round_trips():
    layer = BatchNorm(momentum=0.5, epsilon=1e-2, name="bn")
    config = layer.get_config()
    assert config["momentum"] == 0.5 and config["epsilon"] == 1e-2
    clone = BatchNorm.from_config(config)
    assert (clone.momentum, clone.epsilon, clone.name) == (0.5, 1e-2, "bn")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(momentum=1.5), "momentum must be a float in [0, 1), got 1.5"),
        (dict(momentum=-0.1), "got -0.1"),
        (dict(momentum=1.0), "got 1.0"),
        (dict(epsilon=0.0), "epsilon must be a float > 0, got 0.0"),
        (dict(epsilon=-1e-3), "got -0.001"),
    ],
)
def test_bad_arguments_raise_with_the_value(kwargs, message):
    with pytest.raises(ValueError) as info:
        BatchNorm(**kwargs)
    assert message in str(info.value)


def test_non_2d_input_raises_naming_the_shape():
    with pytest.raises(ValueError, match=r"2-D.*\(4, 5, 6\)"):
        BatchNorm()(np.zeros((4, 5, 6), dtype="float32"))
