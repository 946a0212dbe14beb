"""labs_lib.lowlevel: the hand-written softmax, cross-entropy, accuracy, gradients and training
loop of notebook 04."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="labs_lib.lowlevel needs TensorFlow")
keras = pytest.importorskip("keras")

from labs_lib import data, lowlevel  # noqa: E402

SCALES = [
    1.0,
    30.0,
    300.0,
    3000.0,
]  # from ordinary logits to far past float32's exp overflow (~88.7)


def random_logits(scale, seed=0, shape=(64, 10)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32") * scale


def numpy_log_softmax(z):
    """float64 reference: z - logsumexp(z), computed stably."""
    z = z.astype("float64")
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("scale", SCALES)
def test_stable_softmax_matches_tf_and_numpy_even_for_huge_logits(scale):
    z = random_logits(scale)
    ours = lowlevel.stable_softmax(tf.constant(z)).numpy()
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, tf.nn.softmax(z).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours, np.exp(numpy_log_softmax(z)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-6)


def test_naive_softmax_is_right_for_small_logits_and_overflows_for_large_ones():
    small = random_logits(1.0)
    np.testing.assert_allclose(
        lowlevel.naive_softmax(tf.constant(small)).numpy(), tf.nn.softmax(small).numpy(), rtol=1e-5
    )
    huge = lowlevel.naive_softmax(tf.constant([[1.0, 2.0, 100.0]])).numpy()
    assert np.isnan(huge).any()  # exp(100) = inf in float32, inf / inf = NaN
    assert np.all(np.isfinite(lowlevel.stable_softmax(tf.constant([[1.0, 2.0, 100.0]])).numpy()))


@pytest.mark.parametrize("scale", SCALES)
def test_cross_entropy_matches_the_keras_loss_and_numpy(scale):
    z = random_logits(scale, seed=1)
    y = np.random.default_rng(2).integers(0, 10, size=len(z))
    ours = float(lowlevel.cross_entropy(tf.constant(y), tf.constant(z)))
    keras_loss = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, z))
    reference = float(-numpy_log_softmax(z)[np.arange(len(y)), y].mean())
    assert np.isfinite(ours)
    assert ours == pytest.approx(reference, rel=1e-5, abs=1e-5)
    assert ours == pytest.approx(keras_loss, rel=1e-5, abs=1e-5)


def test_cross_entropy_of_uniform_logits_is_log_of_the_class_count():
    assert float(
        lowlevel.cross_entropy(tf.constant([0, 1, 2, 3, 9]), tf.zeros((5, 10)))
    ) == pytest.approx(np.log(10))


@pytest.mark.parametrize("scale", SCALES)
def test_accuracy_matches_keras_and_numpy(scale):
    z = random_logits(scale, seed=3, shape=(200, 10))
    y = np.random.default_rng(4).integers(0, 10, size=len(z))
    y[:50] = z[:50].argmax(axis=1)  # make some rows right
    ours = float(lowlevel.accuracy(tf.constant(y), tf.constant(z)))
    metric = keras.metrics.SparseCategoricalAccuracy()
    metric.update_state(y, z)
    assert ours == pytest.approx(float((z.argmax(axis=1) == y).mean()))
    assert ours == pytest.approx(float(metric.result()))


def test_hand_derived_softmax_regression_gradients_equal_the_tape():
    rng = np.random.default_rng(5)
    x = tf.constant(rng.normal(size=(32, 20)).astype("float32"))
    y = tf.constant(rng.integers(0, 4, size=32), tf.int32)
    w, b = tf.Variable(rng.normal(size=(20, 4)).astype("float32")), tf.Variable(tf.zeros(4))
    with tf.GradientTape() as tape:
        loss = lowlevel.cross_entropy(y, tf.matmul(x, w) + b)
    tape_w, tape_b = tape.gradient(loss, [w, b])
    hand_w, hand_b = lowlevel.softmax_regression_gradients(w, b, x, y)
    np.testing.assert_allclose(hand_w.numpy(), tape_w.numpy(), atol=1e-6)
    np.testing.assert_allclose(hand_b.numpy(), tape_b.numpy(), atol=1e-6)


def test_penalties_sum_over_weights_not_biases():
    params = [
        (tf.Variable([[1.0, -2.0]]), tf.Variable([5.0, 5.0])),
        (tf.Variable([[3.0], [-1.0]]), tf.Variable([7.0])),
    ]
    assert float(lowlevel.penalty(params, "l2", 0.1)) == pytest.approx(0.1 * (1 + 4 + 9 + 1))
    assert float(lowlevel.penalty(params, "l1", 0.1)) == pytest.approx(0.1 * (1 + 2 + 3 + 1))
    assert float(lowlevel.penalty(params, None, 0.1)) == 0.0
    with pytest.raises(ValueError, match="penalty must be one of {l1, l2} or None, got 'l3'"):
        lowlevel.penalty(params, "l3", 0.1)


def test_init_params_shapes_zero_softmax_regression_and_he_scale():
    assert [tuple(w.shape) for w, _ in lowlevel.init_params([784, 300, 100, 10])] == [
        (784, 300),
        (300, 100),
        (100, 10),
    ]
    ((w, b),) = lowlevel.init_params([784, 10])
    assert not np.any(w.numpy()) and not np.any(b.numpy())
    w1 = lowlevel.init_params([784, 300, 10], seed=1)[0][0].numpy()
    assert w1.std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    np.testing.assert_array_equal(w1, lowlevel.init_params([784, 300, 10], seed=1)[0][0].numpy())


def test_forward_is_relu_layers_then_a_linear_output():
    params = [
        (tf.Variable([[1.0, -1.0]]), tf.Variable([0.0, 0.0])),
        (tf.Variable([[2.0], [3.0]]), tf.Variable([0.5])),
    ]
    np.testing.assert_allclose(
        lowlevel.forward(params, tf.constant([[2.0], [-1.0]])).numpy(), [[4.5], [3.5]]
    )


def test_batch_indices_cover_each_epoch_once_and_are_seeded():
    idx = lowlevel.batch_indices(100, 32, epochs=2, seed=0)
    assert idx.shape == (6, 32)  # 3 full batches per epoch, the last partial one dropped
    assert len(set(idx[:3].ravel())) == 96 and len(set(idx[3:].ravel())) == 96
    np.testing.assert_array_equal(idx, lowlevel.batch_indices(100, 32, epochs=2, seed=0))
    with pytest.raises(
        ValueError, match="batch_size must be at most the 10 training examples, got 32"
    ):
        lowlevel.batch_indices(10, 32, epochs=1)


def test_training_lowers_the_loss_and_records_curves_reproducibly():
    ds = data.load("synthetic", like="fashion_mnist", n_train=400, n_val=100, n_test=100, seed=0)
    curves = []
    for _ in range(2):
        params = lowlevel.init_params([784, 16, 10], seed=0)
        curves.append(
            lowlevel.train(
                params,
                ds,
                epochs=3,
                batch_size=40,
                lr=0.1,
                kind="l2",
                strength=1e-3,
                eval_every=10,
                n_eval=200,
                seed=0,
                label="test",
            )
        )
    curve = curves[0]
    assert list(curve.step) == [0, 10, 20, 30]
    assert list(curve.columns[:2]) == ["step", "epoch"] and curve.epoch.iloc[-1] == 3
    assert (
        curve.loss.iloc[-1] < curve.loss.iloc[0]
        and curve.val_loss.iloc[-1] < curve.val_loss.iloc[0]
    )
    assert np.all(curve.objective > curve.loss)  # the L2 term is positive
    np.testing.assert_allclose(curves[1].val_loss, curve.val_loss, rtol=1e-6)


def test_without_tensorflow_the_module_says_what_to_install():
    import subprocess
    import sys

    code = "import sys; sys.modules['tensorflow'] = None\nimport labs_lib.lowlevel"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "labs_lib.lowlevel needs TensorFlow, which is not installed" in result.stderr
    assert "pip install tensorflow-cpu" in result.stderr


# Replicas: several networks of one architecture stacked on a leading axis (notebook 04's seeds).


def test_replica_seeds_are_the_repeat_seeds_of_the_keras_notebooks():
    training = pytest.importorskip("labs_lib.training")
    assert lowlevel.replica_seeds(7, 3) == [training.repeat_seed(7, r) for r in range(3)]


def test_replica_r_starts_as_init_params_of_its_seed_and_computes_like_it():
    sizes, seeds = [20, 8, 4], [0, 1000, 5]
    stacked = lowlevel.init_replicas(sizes, seeds)
    assert [tuple(w.shape) for w, _ in stacked] == [(3, 20, 8), (3, 8, 4)]
    assert [tuple(b.shape) for _, b in stacked] == [(3, 1, 8), (3, 1, 4)]
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(3, 16, 20)).astype("float32"))
    y = tf.constant(rng.integers(0, 4, size=(3, 16)), tf.int32)
    logits = lowlevel.forward(stacked, x)
    strengths = np.array([0.1, 0.0, 0.3], "float32")
    for r, s in enumerate(seeds):
        single = lowlevel.init_params(sizes, seed=s)
        np.testing.assert_array_equal(stacked[0][0].numpy()[r], single[0][0].numpy())
        ours = lowlevel.forward(single, x[r])
        np.testing.assert_allclose(logits[r].numpy(), ours.numpy(), rtol=1e-5, atol=1e-5)
        assert float(lowlevel.cross_entropy(y, logits)[r]) == pytest.approx(
            float(lowlevel.cross_entropy(y[r], ours)), rel=1e-5
        )
        assert float(lowlevel.accuracy(y, logits)[r]) == float(lowlevel.accuracy(y[r], ours))
        assert float(lowlevel.penalty(stacked, "l1", strengths)[r]) == pytest.approx(
            float(lowlevel.penalty(single, "l1", strengths[r])), rel=1e-5
        )
    shared = lowlevel.forward(stacked, x[0])  # one input batch for every replica (evaluation)
    np.testing.assert_allclose(
        shared[1].numpy(), lowlevel.forward(lowlevel.init_params(sizes, 1000), x[0]).numpy(), 1e-5
    )


@pytest.fixture(scope="module")
def tiny():
    return data.load("synthetic", like="fashion_mnist", n_train=300, n_val=100, n_test=120, seed=0)


def test_side_by_side_runs_end_where_separate_runs_with_their_seeds_end(tiny):
    configs = {
        "plain": {"lr": 0.1},
        "l2": {"lr": 0.05, "kind": "l2", "strength": 1e-3},
        "l1": {"lr": 0.1, "kind": "l1", "strength": 1e-3},
    }
    seeds = lowlevel.replica_seeds(0, 2)
    options = {"epochs": 2, "batch_size": 30, "eval_every": 5, "n_eval": 100}
    curves, weights = lowlevel.train_replicas(
        [784, 16, 10], tiny, configs, seeds=seeds, test_evals=2, label="tiny", **options
    )
    assert list(curves) == list(configs) and all(len(c) == 2 for c in curves.values())
    for name, config in configs.items():
        for r, s in enumerate(seeds):
            params = lowlevel.init_params([784, 16, 10], seed=s)
            alone = lowlevel.train(
                params, tiny, seed=s, label=name, **options, **{"strength": 0.0, **config}
            )
            together = curves[name][r]
            for column in ("loss", "accuracy", "objective", "val_loss", "val_accuracy"):
                np.testing.assert_allclose(together[column], alone[column], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(weights[name][r][0], params[0][0].numpy(), atol=1e-5)
    curve = curves["plain"][0]
    assert curve.test_loss.isna().sum() == len(curve) - 2 and curve.test_loss.tail(2).notna().all()
    assert not curves["plain"][0].val_loss.equals(curves["plain"][1].val_loss)  # seeds differ


def test_final_metrics_average_the_last_points_and_weight_stats_count_small_weights():
    curve = lowlevel.pd.DataFrame(
        {
            "step": [0, 10, 20, 30],
            "loss": [2.0, 1.0, 0.6, 0.4],
            "accuracy": [0.1, 0.5, 0.7, 0.8],
            "objective": [2.0, 1.1, 0.7, 0.5],
            "val_loss": [2.0, 1.2, 0.8, 0.6],
            "val_accuracy": [0.1, 0.4, 0.6, 0.7],
            "seconds": [0, 1, 2, 3],
        }
    )
    row = lowlevel.final_metrics(curve, last=2)
    assert row["steps"] == 30 and row["train_loss"] == pytest.approx(0.5)
    assert row["val_accuracy"] == pytest.approx(0.65) and row["gap"] == pytest.approx(0.2)
    assert "test_loss" not in row
    stats = lowlevel.weight_stats([np.array([[0.0, 5e-4], [-2e-4, 0.3]]), np.array([[-1.0]])])
    assert stats == {
        "near_zero": pytest.approx(3 / 5),
        "near_zero_median": pytest.approx(2e-4),
        "exact_zeros": 1,
        "weights": 5,
    }
