"""labs_lib.loops: compiled full-batch training equals model.fit step for step; the convergence
rule."""

import keras
import numpy as np
import pytest

from labs_lib import diagnostics, loops


def f1_data(n=200):
    x = np.linspace(-1, 1, n, dtype="float32")[:, None]
    safe = np.where(x == 0, 1.0, 5 * np.pi * x)
    return x, np.where(x == 0, 1.0, np.sin(safe) / safe).astype("float32")


def small_net():
    keras.utils.set_random_seed(0)
    init = [keras.initializers.GlorotUniform(seed=s) for s in range(3)]
    return keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.Dense(10, activation="relu", kernel_initializer=init[0]),
            keras.layers.Dense(10, activation="relu", kernel_initializer=init[1]),
            keras.layers.Dense(1, kernel_initializer=init[2]),
        ]
    )


def test_compiled_loop_equals_model_fit_step_for_step():
    x, y = f1_data()
    ours = small_net()
    history, _ = loops.fit_full_batch(
        ours, keras.optimizers.AdamW(1e-3, weight_decay=1e-4), x, y, epochs=40, chunk=15
    )
    theirs = small_net()
    theirs.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4), loss="mse")
    fitted = theirs.fit(x, y, batch_size=len(x), epochs=40, shuffle=False, verbose=0)
    assert list(history.epoch) == list(range(1, 41))
    np.testing.assert_allclose(history.loss, fitted.history["loss"], rtol=1e-5, atol=1e-7)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_recorded_gradient_norm_is_the_norm_before_the_step():
    x, y = f1_data(50)
    net = small_net()
    expected = np.sqrt(
        sum(
            np.sum(g**2)
            for g in diagnostics.gradients(
                net, x, y, loss_fn=loops.scalar_loss("mse"), training=True
            ).values()
        )
    )
    history, _ = loops.fit_full_batch(net, keras.optimizers.SGD(0.01), x, y, epochs=3)
    assert history.grad_norm.iloc[0] == pytest.approx(expected, rel=1e-4)


def test_gradient_norm_objective_lowers_the_gradient_norm():
    x, y = f1_data(100)
    history, _ = loops.fit_full_batch(
        small_net(), keras.optimizers.Adam(1e-3), x, y, epochs=300, objective="grad_norm"
    )
    assert history.grad_norm.iloc[-1] < 0.5 * history.grad_norm.iloc[0]


def test_training_stops_at_the_end_of_the_chunk_where_the_rule_first_holds():
    x, y = f1_data(50)
    history, hit = loops.fit_full_batch(
        small_net(),
        keras.optimizers.SGD(1e-12),
        x,
        y,
        epochs=1000,
        chunk=100,
        converged=loops.Converged(window=30, tol=1e-3),
    )
    assert (
        hit == 30 and len(history) == 100
    )  # frozen weights: the rule holds as soon as the window is full


@pytest.mark.parametrize(
    "losses, window, tol, expected",
    [
        ([1.0, 0.5, 0.25, 0.2499, 0.2499], 2, 1e-3, 4),  # 0.25 -> 0.2499: a band of 4e-4 relative
        ([1.0, 0.5, 0.25, 0.2499, 0.2499], 3, 1e-3, 5),
        ([1.0, 0.9, 0.8, 0.7], 2, 1e-3, None),
        (
            [0.5, 0.2, 0.5, 0.2, 0.5],
            3,
            1e-3,
            None,
        ),  # oscillating: equal values two apart do not count
        ([1.0], 2, 1e-3, None),
    ],
)
def test_converged_rule(losses, window, tol, expected):
    assert loops.Converged(window, tol).first_epoch(losses) == expected


def test_bad_arguments_are_refused():
    with pytest.raises(
        ValueError, match="objective must be one of {loss, grad_norm}, got 'hessian'"
    ):
        loops.trainer(small_net(), keras.optimizers.SGD(), *f1_data(10), objective="hessian")
    with pytest.raises(ValueError, match="window=1"):
        loops.Converged(1, 1e-3)


def test_nets_side_by_side_in_the_compiled_loop_train_as_they_would_alone():
    from labs_lib import models

    x, y = f1_data(60)
    nets = [models.regressor([6, 6], "sigmoid", seed=s, name=f"net_{s}") for s in range(3)]
    together = models.side_by_side(nets)
    loops.fit_full_batch(together, keras.optimizers.Adam(1e-2), x, y, epochs=50)
    for s, net in enumerate(nets):
        alone = models.regressor([6, 6], "sigmoid", seed=s, name="alone")
        history, _ = loops.fit_full_batch(alone, keras.optimizers.Adam(1e-2), x, y, epochs=50)
        for a, b in zip(net.get_weights(), alone.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
