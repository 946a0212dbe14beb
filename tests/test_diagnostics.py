"""Diagnostics: activations, unit spread, weight statistics, gradients, training logs and gradient
checking."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from labs_lib import data, diagnostics, models, training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def batch(n=8, d=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, classes, n)


def float64_net(activation="sigmoid", seed=0):
    with diagnostics.float64_scope():
        return models.mlp(
            (5,),
            hidden=(4,),
            n_classes=3,
            activation=activation,
            kernel_initializer="glorot_normal",
            seed=seed,
        )


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


# --------------------------------------------------------------------------- gradients


def test_gradients_equal_a_numpy_softmax_regression_gradient():
    net = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(3, kernel_initializer="glorot_normal")]
    )
    x, y = batch()
    grads = diagnostics.gradients(net, x, y)
    layer = net.layers[0]
    w, b = np.asarray(layer.kernel, dtype=np.float64), np.asarray(layer.bias, dtype=np.float64)
    logits = x @ w + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dlogits = (p - np.eye(3)[y]) / len(x)
    assert list(grads) == [layer.kernel.path, layer.bias.path]
    np.testing.assert_allclose(grads[layer.kernel.path], x.T @ dlogits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[layer.bias.path], dlogits.sum(axis=0), rtol=1e-5, atol=1e-6)


def test_gradients_include_the_weight_penalty_of_model_losses():
    x, y = batch(d=6)
    plain = models.mlp((6,), hidden=(4,), n_classes=3, seed=3)
    penalized = models.mlp((6,), hidden=(4,), n_classes=3, seed=3, penalty="l2", strength=0.1)
    g_plain, g_pen = diagnostics.gradients(plain, x, y), diagnostics.gradients(penalized, x, y)
    for layer in models.dense_layers(
        penalized
    ):  # l2 adds strength * sum w^2: gradient 2 * strength * w
        kernel = np.asarray(layer.kernel)
        extra = g_pen[layer.kernel.path] - g_plain[layer.kernel.path]
        np.testing.assert_allclose(extra, 2 * 0.1 * kernel, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(g_pen[layer.bias.path], g_plain[layer.bias.path], atol=1e-7)


def test_gradients_raise_not_implemented_under_another_backend(monkeypatch):
    net = models.mlp((5,), hidden=(4,), n_classes=3)
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(NotImplementedError, match="tensorflow and jax.*'torch'"):
        diagnostics.gradients(net, *batch())


def test_gradients_refuse_a_batch_whose_x_and_y_differ_in_length():
    x, y = batch()
    with pytest.raises(ValueError, match="same number of examples.*got 8 and 7"):
        diagnostics.gradients(models.mlp((5,), hidden=(4,), n_classes=3), x, y[:7])


def test_layer_gradient_norms_give_kernel_and_bias_gradient_norms_per_dense_layer():
    net = models.mlp((5,), hidden=(4, 4), n_classes=3, activation="sigmoid", seed=1)
    x, y = batch()
    norms = diagnostics.layer_gradient_norms(net, x, y)
    grads = diagnostics.gradients(net, x, y)
    assert list(norms.columns) == ["layer", "grad_norm", "bias_grad_norm", "relative_grad_norm"]
    assert list(norms.layer) == ["hidden_1", "hidden_2", "logits"]
    for row, layer in zip(norms.itertuples(), models.dense_layers(net)):
        assert row.grad_norm == pytest.approx(np.linalg.norm(grads[layer.kernel.path]), rel=1e-5)
        assert row.bias_grad_norm == pytest.approx(np.linalg.norm(grads[layer.bias.path]), rel=1e-5)
        assert row.relative_grad_norm == pytest.approx(
            row.grad_norm / np.linalg.norm(layer.kernel), rel=1e-5
        )


NORMS_SCRIPT = """
import sys
import numpy as np
from labs_lib import diagnostics, models
saved = np.load(sys.argv[1])
net = models.mlp((6,), hidden=(5, 4), n_classes=3, activation="sigmoid")
net.set_weights([saved[f"w{i}"] for i in range(len(net.weights))])
print(diagnostics.layer_gradient_norms(net, saved["x"], saved["y"]).to_json(orient="records"))
"""


def test_layer_gradient_norms_agree_between_tensorflow_and_jax(tmp_path):
    for module in ("tensorflow", "jax"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(
                f"{module} is not installed: the cross-backend comparison needs both backends"
            )
    net = models.mlp(
        (6,),
        hidden=(5, 4),
        n_classes=3,
        activation="sigmoid",
        kernel_initializer="he_normal",
        seed=4,
    )
    x, y = batch(n=16, d=6)
    np.savez(
        tmp_path / "case.npz",
        x=x.astype("float32"),
        y=y,
        **{f"w{i}": w for i, w in enumerate(net.get_weights())},
    )
    (tmp_path / "norms.py").write_text(NORMS_SCRIPT)
    procs = {
        backend: subprocess.Popen(
            [sys.executable, str(tmp_path / "norms.py"), str(tmp_path / "case.npz")],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        for backend in ("tensorflow", "jax")
    }
    rows = {}
    for backend, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"{backend} run failed:\n{err[-2000:]}"
        rows[backend] = json.loads(out.strip().splitlines()[-1])
    for backend_rows in rows.values():
        assert [r["layer"] for r in backend_rows] == ["hidden_1", "hidden_2", "logits"]
    for column in ("grad_norm", "bias_grad_norm", "relative_grad_norm"):
        np.testing.assert_allclose(
            [r[column] for r in rows["jax"]], [r[column] for r in rows["tensorflow"]], rtol=1e-5
        )


# ------------------------------------------------------------------------ recording during training


def test_callbacks_record_one_row_per_layer_per_epoch_plus_initialization_during_fit():
    ds = data.load("synthetic", like="mnist", n_train=200, n_val=50, n_test=50)
    net = training.compile_classifier(
        models.mlp(ds.x_train.shape[1:], hidden=(16, 16), seed=0), lr=1e-2
    )
    start = np.array(net.get_layer("hidden_1").kernel)
    grad_log, weight_log = (
        diagnostics.GradientNormLog(ds.x_val[:32], ds.y_val[:32]),
        diagnostics.WeightLog(),
    )
    net.fit(
        ds.x_train, ds.y_train, epochs=2, batch_size=50, verbose=0, callbacks=[grad_log, weight_log]
    )
    grads, weights = grad_log.frame(), weight_log.frame()
    layers = ["hidden_1", "hidden_2", "logits"]
    for frame, columns in (
        (grads, ["epoch", "layer", "grad_norm"]),
        (weights, ["epoch", "layer", "mean", "std"]),
    ):
        assert set(columns) <= set(frame.columns)
        assert len(frame) == 3 * len(layers)
        assert sorted(frame.groupby("layer").epoch.apply(list).items()) == [
            (name, [0, 1, 2]) for name in layers
        ]
    assert (grads.grad_norm > 0).all()
    np.testing.assert_array_equal(weight_log.first_layer_start, start)
    np.testing.assert_array_equal(
        weight_log.first_layer_end, np.asarray(net.get_layer("hidden_1").kernel)
    )
    assert not np.array_equal(weight_log.first_layer_start, weight_log.first_layer_end)
    # the last records describe the trained model
    # (under JAX: the weights fit syncs back before on_epoch_end)
    last = weights[weights.epoch == 2].reset_index(drop=True)[["layer", "mean", "std"]]
    expected = diagnostics.weight_stats(net)[["layer", "mean", "std"]]
    np.testing.assert_allclose(last[["mean", "std"]], expected[["mean", "std"]], rtol=1e-6)
    now = diagnostics.layer_gradient_norms(net, ds.x_val[:32], ds.y_val[:32])
    np.testing.assert_allclose(grads[grads.epoch == 2].grad_norm, now.grad_norm, rtol=1e-5)


# --------------------------------------------------------------------------- gradient checking


def test_numerical_gradient_of_a_sum_of_squares_is_twice_w():
    w = np.random.default_rng(0).normal(size=(3, 4))
    g = diagnostics.numerical_gradient(lambda v: np.sum(v**2), w)
    assert g.shape == w.shape
    np.testing.assert_allclose(g, 2 * w, rtol=1e-8, atol=1e-9)


def test_relative_error_is_0_for_identical_1_for_opposite_and_0_when_both_are_zero():
    g = np.array([[1.0, -2.0], [0.5, 3.0]])
    assert diagnostics.relative_error(g, g.copy()) == 0.0
    assert diagnostics.relative_error(g, -g) == pytest.approx(1.0)
    assert diagnostics.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        diagnostics.relative_error(np.zeros(3), np.zeros(4))


def test_gradient_check_passes_on_a_float64_keras_model_and_leaves_it_unchanged():
    net, (x, y) = float64_net(), batch()
    before = [np.array(w) for w in net.get_weights()]
    full = diagnostics.gradient_check(net, x, y, "hidden_1")
    assert full["relative_error"] < 1e-7
    assert len(full["autodiff"]) == len(full["numerical"]) == 5 * 4
    part = diagnostics.gradient_check(net, x, y, net.get_layer("logits"), n_entries=5, seed=1)
    assert part["relative_error"] < 1e-7
    assert len(part["entries"]) == 5 and len(set(part["entries"])) == 5
    for w, w0 in zip(net.get_weights(), before):
        np.testing.assert_array_equal(w, w0)


def test_gradient_check_refuses_float32_models_unknown_layers_and_bad_subsets():
    x, y = batch()
    with pytest.raises(ValueError, match="float64 model.*float32"):
        diagnostics.gradient_check(models.mlp((5,), hidden=(4,), n_classes=3), x, y, "hidden_1")
    net = float64_net()
    with pytest.raises(ValueError, match="layer must be one of.*'hidden_1'.*got 'hidden_9'"):
        diagnostics.gradient_check(net, x, y, "hidden_9")
    with pytest.raises(ValueError, match=r"n_entries must be None or an int in \[1, 20\].*got 0"):
        diagnostics.gradient_check(net, x, y, "hidden_1", n_entries=0)


def test_gradient_check_refuses_a_float64_model_with_a_layer_computing_in_float32():
    with diagnostics.float64_scope():
        net = keras.Sequential(
            [
                keras.Input((5,)),
                keras.layers.Dense(4, name="hidden_1"),
                keras.layers.Activation("sigmoid", dtype="float32", name="squash"),
                keras.layers.Dense(3, name="logits"),
            ]
        )
    with pytest.raises(ValueError, match=r"every layer to compute in float64.*\['squash'\]"):
        diagnostics.gradient_check(net, *batch(), "hidden_1")


def test_gradient_check_of_a_tanh_network_passes_under_tensorflow_and_is_refused_under_jax():
    net, (x, y) = float64_net(activation="tanh"), batch()
    if (
        keras.backend.backend() == "jax"
    ):  # Keras 3.15 computes tanh in float32 on non-TensorFlow backends
        with pytest.raises(ValueError, match=r"compute in float64.*\['hidden_1'\].*tanh"):
            diagnostics.gradient_check(net, x, y, "hidden_1")
    else:
        assert diagnostics.gradient_check(net, x, y, "hidden_1")["relative_error"] < 1e-7


def test_float64_scope_builds_float64_models_then_restores_float32():
    net = float64_net()
    assert diagnostics.weight_dtypes(net) == ["float64"]
    assert keras.config.floatx() == "float32" and keras.config.dtype_policy().name == "float32"
    assert diagnostics.weight_dtypes(models.mlp((5,), hidden=(4,), n_classes=3)) == ["float32"]


def test_float64_copy_keeps_architecture_and_weights_and_passes_the_check():
    net = models.mlp(
        (5,),
        hidden=(4,),
        n_classes=3,
        activation="sigmoid",
        kernel_initializer="glorot_normal",
        seed=5,
    )
    x, y = batch()
    copy = diagnostics.float64_copy(net)
    assert diagnostics.weight_dtypes(copy) == ["float64"] and diagnostics.weight_dtypes(net) == [
        "float32"
    ]
    assert [layer.name for layer in copy.layers] == [layer.name for layer in net.layers]
    for w64, w32 in zip(copy.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(w64, w32.astype(np.float64))
    assert diagnostics.gradient_check(copy, x, y, "hidden_1")["relative_error"] < 1e-7


@pytest.mark.parametrize(
    "sizes", [(5, 3), (5, 4, 3)], ids=["softmax_regression", "one_hidden_layer"]
)
def test_manual_gradient_passes_the_check_and_each_bug_is_caught(sizes):
    params, (x, y) = diagnostics.manual_params(sizes, seed=2), batch()
    assert diagnostics.manual_gradient_check(params, x, y)["relative_error"] < 1e-7
    for bug in diagnostics.MANUAL_BUGS:
        assert diagnostics.manual_gradient_check(params, x, y, bug=bug)["relative_error"] > 1e-2


def test_manual_gradient_rejects_an_unknown_bug():
    with pytest.raises(ValueError, match="bug must be None or one of.*got 'typo'"):
        diagnostics.manual_gradient(diagnostics.manual_params((5, 3)), *batch(), bug="typo")


def test_training_mode_gradients_use_batch_statistics_and_leave_moving_averages_alone():
    net = models.mlp((6,), hidden=(5,), activation="sigmoid", batch_norm=True, seed=0)
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(32, 6)).astype("float32")
    y = np.arange(32) % 10
    before = [keras.ops.convert_to_numpy(v.value).copy() for v in net.non_trainable_variables]
    train_mode = diagnostics.layer_gradient_norms(net, x, y, training=True)
    infer_mode = diagnostics.layer_gradient_norms(net, x, y, training=False)
    assert not np.allclose(train_mode.grad_norm, infer_mode.grad_norm)
    for saved, v in zip(before, net.non_trainable_variables):
        np.testing.assert_array_equal(saved, keras.ops.convert_to_numpy(v.value))


# -------------------------------------------------------- Hessian, minimal ratio, trajectories, PCA


def test_hessian_of_a_quadratic_loss_is_its_known_matrix():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    linear = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    # MSE of a linear map: L(w) = |Xw - y|^2 / N, so H = 2 X^T X / N whatever w is
    np.testing.assert_allclose(
        diagnostics.hessian(linear, x, y), 2 * x.T @ x / 40, rtol=1e-10, atol=1e-12
    )


def test_hessian_is_symmetric_and_sized_by_the_weights():
    net = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(5, activation="sigmoid"), keras.layers.Dense(1)]
    )
    x = np.linspace(-1, 1, 20)[:, None]
    h = diagnostics.hessian(net, x, np.sin(3 * x))
    assert h.shape == (16, 16)  # 5 + 5 + 5 + 1 weights
    np.testing.assert_allclose(h, h.T, atol=1e-12)


def test_minimal_ratio_is_the_share_of_positive_eigenvalues():
    assert diagnostics.minimal_ratio(np.diag([1.0, 2.0, -1.0, -3.0])) == 0.5
    assert diagnostics.minimal_ratio(np.eye(5)) == 1.0
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))[0]
    assert (
        diagnostics.minimal_ratio(rotation @ np.diag([3.0, 1.0, 1e-3, -2.0]) @ rotation.T) == 0.75
    )
    assert diagnostics.minimal_ratio(np.diag([1.0, 1e-9]), tol=1e-6) == 0.5


def test_weight_trajectory_records_every_k_epochs_whole_model_and_one_layer():
    ds = data.load("synthetic", like="mnist", n_train=200, n_val=50, n_test=50, seed=0)
    net = training.compile_classifier(models.mlp(ds.x_train.shape[1:], (8,), seed=0))
    log = diagnostics.WeightTrajectory(every=3, layer="hidden_1")
    training.fit(net, ds, epochs=7, batch_size=50, callbacks=[log])
    n_weights = 784 * 8 + 8 + 8 * 10 + 10
    assert log.epochs == [0, 3, 6, 7]
    assert np.shape(log.points) == (4, n_weights) and np.shape(log.layer_points) == (4, 784 * 8 + 8)
    np.testing.assert_array_equal(log.points[-1], diagnostics.flat_weights(net))
    assert np.isnan(log.accuracy[0]) and 0 <= log.accuracy[-1] <= 1


def test_pca_recovers_a_known_projection():
    rng = np.random.default_rng(2)
    t = rng.normal(size=50)
    direction, offset = np.array([1.0, 2.0, 2.0]) / 3.0, np.array([5.0, -1.0, 0.5])
    points = offset + np.outer(t, direction) + 1e-6 * rng.normal(size=(50, 3))
    projection, ratio = diagnostics.pca(points, n_components=2)
    first = projection[:, 0] * np.sign(projection[0, 0] * (t[0] - t.mean()))
    np.testing.assert_allclose(first, t - t.mean(), atol=1e-5)
    assert ratio[0] > 0.999999 and ratio[1] < 1e-6


def test_hessian_function_reuses_one_compiled_function_for_many_weight_vectors():
    net = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(4, activation="sigmoid"), keras.layers.Dense(1)]
    )
    x = np.linspace(-1, 1, 30)[:, None]
    y = np.cos(2 * x)
    at = diagnostics.hessian_function(net, x, y)
    first = diagnostics.flat_weights(net)
    np.testing.assert_allclose(at(first), diagnostics.hessian(net, x, y), atol=1e-12)
    net.set_weights([w + 0.1 for w in net.get_weights()])
    moved = diagnostics.flat_weights(net)
    np.testing.assert_allclose(at(moved), diagnostics.hessian(net, x, y), atol=1e-12)
    assert not np.allclose(at(moved), at(first))


def test_weight_trajectory_of_one_net_trained_side_by_side():
    ds = data.load("synthetic", like="mnist", n_train=200, n_val=50, n_test=50, seed=0)
    nets = [models.mlp(ds.x_train.shape[1:], (8,), seed=s, name=f"run_{s}") for s in range(2)]
    model = training.compile_classifier(models.side_by_side(nets))
    logs = [diagnostics.WeightTrajectory(every=2, layer="hidden_1", net=net) for net in nets]
    training.fit_side_by_side(model, ds, epochs=4, batch_size=50, callbacks=logs)
    for log, net in zip(logs, nets):
        assert log.epochs == [0, 2, 4]
        np.testing.assert_array_equal(log.points[-1], diagnostics.flat_weights(net))
        assert 0 <= log.accuracy[-1] <= 1
    assert not np.allclose(
        logs[0].points[0], logs[1].points[0]
    )  # different seeds, different starts


def test_hessian_spectrum_counts_negative_near_zero_and_positive_eigenvalues():
    rotation = np.linalg.qr(np.random.default_rng(3).normal(size=(5, 5)))[0]
    spectrum = diagnostics.hessian_spectrum(
        rotation @ np.diag([4.0, 1.0, 1e-9, -1e-9, -2.0]) @ rotation.T, rel_tol=1e-6
    )
    assert (spectrum["negative"], spectrum["near_zero"], spectrum["positive"]) == (1, 2, 2)
    assert spectrum["minimal_ratio"] == 0.4
    assert spectrum["lambda_min"] == pytest.approx(-2.0) and spectrum[
        "lambda_max"
    ] == pytest.approx(4.0)
    assert diagnostics.hessian_spectrum(np.eye(3))["minimal_ratio"] == 1.0
    calls = []

    def counted(h, tol):  # a student's minimal_ratio, as notebook 07 passes it
        calls.append(tol)
        return 0.25

    assert diagnostics.hessian_spectrum(np.eye(3), minimal_ratio=counted)["minimal_ratio"] == 0.25
    assert calls == [pytest.approx(1e-6)]  # called with the absolute tolerance
    with pytest.raises(ValueError, match="rel_tol must be a float in \\[0, 1\\), got 2"):
        diagnostics.hessian_spectrum(np.eye(3), rel_tol=2)


def test_gradient_norm_is_the_norm_of_every_weights_gradient():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 3)).astype("float32"), rng.normal(size=(30, 1)).astype("float32")
    linear = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    w, b = linear.get_weights()
    residual = (x @ w + b - y).astype("float64")  # MSE gradient: 2 X^T r / N for w, 2 mean(r) for b
    expected = np.sqrt(np.sum((2 * x.T @ residual / 30) ** 2) + (2 * residual.mean()) ** 2)
    assert diagnostics.gradient_norm(
        linear, x, y, loss_fn=diagnostics.mean_squared_error
    ) == pytest.approx(expected, rel=1e-5)


def test_gradient_norm_descent_drives_each_side_by_side_net_towards_a_critical_point():
    x = np.linspace(-1, 1, 60, dtype="float32")[:, None]
    y = np.sin(3 * x)
    nets = [
        keras.Sequential(
            [
                keras.Input((1,)),
                keras.layers.Dense(
                    6,
                    activation="tanh",
                    kernel_initializer=keras.initializers.GlorotUniform(seed=s),
                ),
                keras.layers.Dense(
                    1, kernel_initializer=keras.initializers.GlorotUniform(seed=10 + s)
                ),
            ],
            name=f"net_{s}",
        )
        for s in range(2)
    ]  # every initializer seeded: the same nets in any test order
    before = [diagnostics.gradient_norm(net, x, y, diagnostics.mean_squared_error) for net in nets]
    history = diagnostics.descend_gradient_norm(
        models.side_by_side(nets), x, y, epochs=400, learning_rate=1e-2
    )
    after = [diagnostics.gradient_norm(net, x, y, diagnostics.mean_squared_error) for net in nets]
    assert len(history) == 400 and history.grad_norm.iloc[-1] < 0.1 * history.grad_norm.iloc[0]
    assert all(a < 0.1 * b for a, b in zip(after, before))


# -------------------------------------------------------- interpolation, input Jacobians, sharpness


def two_trained_mlps():
    ds = data.load("synthetic", like="mnist", n_train=300, n_val=50, n_test=100, seed=0)
    nets = []
    for batch_size in (16, 150):
        net = training.compile_classifier(models.mlp(ds.x_train.shape[1:], (12,), seed=0))
        training.fit(net, ds, epochs=2, batch_size=batch_size)
        nets.append(net)
    return ds, nets


def test_interpolation_at_alpha_0_and_1_reproduces_the_two_models_outputs_exactly():
    ds, (a, b) = two_trained_mlps()
    probe = training.compile_classifier(models.mlp(ds.x_train.shape[1:], (12,), seed=5))
    wa, wb = a.get_weights(), b.get_weights()
    for alpha, net in ((0.0, a), (1.0, b)):
        mixed = diagnostics.interpolate(wa, wb, alpha)
        assert all(m.dtype == w.dtype for m, w in zip(mixed, wa))
        probe.set_weights(mixed)
        np.testing.assert_array_equal(
            probe.predict(ds.x_test, verbose=0), net.predict(ds.x_test, verbose=0)
        )
    halfway = diagnostics.interpolate(wa, wb, 0.5)
    np.testing.assert_allclose(halfway[0], (wa[0].astype("float64") + wb[0]) / 2, rtol=1e-6)
    curve = diagnostics.interpolation_curve(
        probe, wa, wb, [0.0, 0.5, 1.0], {"test": (ds.x_test, ds.y_test)}
    )
    assert list(curve.columns) == ["alpha", "test_loss", "test_accuracy"]
    assert curve.test_loss.iloc[0] == pytest.approx(
        training.evaluate(a, ds.x_test, ds.y_test)["loss"], rel=1e-5
    )
    assert curve.test_accuracy.iloc[-1] == pytest.approx(
        training.evaluate(b, ds.x_test, ds.y_test)["accuracy"]
    )
    np.testing.assert_array_equal(
        probe.get_weights()[0], wb[0]
    )  # the model's own weights are put back
    swapped = diagnostics.interpolation_curve(  # a student's interpolate, as notebook 08 passes it
        probe, wa, wb, [0.0], {"test": (ds.x_test, ds.y_test)}, interpolate=lambda a, b, t: b
    )
    assert swapped.test_loss.iloc[0] == pytest.approx(curve.test_loss.iloc[-1])


def test_interpolate_refuses_weights_of_two_architectures():
    with pytest.raises(ValueError, match="must come from one architecture"):
        diagnostics.interpolate([np.zeros((2, 3))], [np.zeros((3, 2))], 0.5)


def test_jacobian_norm_of_a_linear_softmax_free_map_is_its_weight_matrix_frobenius_norm():
    linear = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    x = np.random.default_rng(5).normal(size=(7, 6)).astype("float32")
    norms = diagnostics.input_jacobian_norms(linear, x, softmax=False, batch_size=3)
    assert norms.shape == (7,)
    np.testing.assert_allclose(norms, np.linalg.norm(linear.get_weights()[0]), rtol=1e-5)
    jacobians = np.concatenate(list(diagnostics.input_jacobians(linear, x, softmax=False)))
    assert jacobians.shape == (7, 4, 6)
    np.testing.assert_allclose(jacobians[3], linear.get_weights()[0].T, rtol=1e-6)
    np.testing.assert_array_equal(diagnostics.jacobian_norms(jacobians), norms)
    largest = diagnostics.input_jacobian_norms(  # a student's norm, as notebook 08 passes it
        linear, x, softmax=False, batch_size=3, norms=lambda j: np.abs(j).max(axis=(1, 2))
    )
    np.testing.assert_allclose(largest, np.abs(linear.get_weights()[0]).max(), rtol=1e-6)
    with pytest.raises(ValueError, match="at least one example, got 0"):
        diagnostics.input_jacobian_norms(linear, x[:0])


def test_jacobian_norm_through_the_softmax_matches_its_closed_form():
    linear = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    w, b = (v.astype("float64") for v in linear.get_weights())
    x = np.random.default_rng(6).normal(size=(5, 6)).astype("float32")
    expected = []
    for row in x.astype("float64"):
        p = np.exp(row @ w + b - (row @ w + b).max())
        p /= p.sum()
        expected.append(
            np.linalg.norm((np.diag(p) - np.outer(p, p)) @ w.T)
        )  # d softmax(Wx + b) / dx
    np.testing.assert_allclose(diagnostics.input_jacobian_norms(linear, x), expected, rtol=1e-4)


def test_sharpness_leaves_the_weights_and_approaches_the_box_maximum_found_by_grid_search():
    ds, (net, _) = two_trained_mlps()
    before = [w.copy() for w in net.get_weights()]
    assert diagnostics.sharpness(net, ds.x_train[:100], ds.y_train[:100], epsilon=1e-2, steps=5) > 0
    for saved, now in zip(before, net.get_weights()):
        np.testing.assert_array_equal(saved, now)
    # two weights: the exact maximum over the box comes from a fine grid
    tiny = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2, use_bias=False)])
    tiny.set_weights([np.array([[0.7, -0.4]], dtype="float32")])
    x, y = np.array([[1.0], [-2.0], [0.5]], dtype="float32"), np.array([0, 1, 0])
    w, eps = tiny.get_weights()[0].astype("float64")[0], 0.05

    def loss(v):
        z = x.astype("float64") * v
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(3), y]))

    grid = [np.linspace(-eps * (abs(wi) + 1), eps * (abs(wi) + 1), 201) for wi in w]
    best = max(loss(w + np.array([a, b])) for a in grid[0] for b in grid[1])
    exact = 100 * (best - loss(w)) / (1 + loss(w))
    estimate = diagnostics.sharpness(tiny, x, y, epsilon=eps, steps=10)
    assert 0.9 * exact <= estimate <= exact * 1.001
    with pytest.raises(ValueError, match="need epsilon > 0 and steps >= 1, got epsilon=0"):
        diagnostics.sharpness(net, ds.x_train[:10], ds.y_train[:10], epsilon=0)
