"""Training helpers: history shape, reproducibility, evaluation."""
import dataclasses

import keras
import numpy as np
import pandas as pd
import pytest

from labs_lib import data, models, training


@pytest.fixture(scope="module")
def tiny():
    return data.load("synthetic", like="mnist", n_train=400, n_val=100, n_test=100, seed=0)


def train(ds, seed, epochs=2, init="he_normal"):
    training.set_seed(seed)
    net = training.compile_classifier(models.mlp(ds.x_train.shape[1:], (16,), kernel_initializer=init, seed=seed))
    return net, training.fit(net, ds, epochs=epochs, batch_size=64, label="t")


def test_fit_returns_one_row_per_epoch_with_losses_accuracies_and_seconds(tiny):
    _, history = train(tiny, 0, epochs=3)
    assert isinstance(history, pd.DataFrame)
    assert list(history.epoch) == [1, 2, 3]
    for column in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
        assert column in history and history[column].notna().all()
    assert (history.seconds > 0).all()


def test_same_seed_gives_identical_metrics_and_weights(tiny):
    net_a, a = train(tiny, 7)
    net_b, b = train(tiny, 7)
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))
    for wa, wb in zip(net_a.get_weights(), net_b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_different_seed_gives_different_metrics(tiny):
    _, a = train(tiny, 1)
    _, b = train(tiny, 2)
    assert not np.allclose(a.loss, b.loss)


def test_training_lowers_the_loss_on_learnable_data(tiny):
    _, history = train(tiny, 0, epochs=5)
    assert history.loss.iloc[-1] < history.loss.iloc[0]


def test_evaluate_matches_the_cross_entropy_computed_by_hand(tiny):
    net, _ = train(tiny, 0, epochs=1)
    logits = np.asarray(net(tiny.x_val), dtype="float64")
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    expected = -logp[np.arange(len(logp)), tiny.y_val].mean()
    result = training.evaluate(net, tiny.x_val, tiny.y_val)
    assert result["loss"] == pytest.approx(expected, rel=1e-4)
    assert result["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == tiny.y_val))


def test_evaluate_on_an_empty_set_gives_nan(tiny):
    net, _ = train(tiny, 0, epochs=1)
    result = training.evaluate(net, tiny.x_test[:0], tiny.y_test[:0])
    assert np.isnan(result["loss"]) and np.isnan(result["accuracy"])


def test_zero_initialized_network_stays_at_ln10_and_symmetric(tiny):
    net, history = train(tiny, 0, epochs=2, init="zeros")
    assert history.loss.iloc[-1] == pytest.approx(np.log(10), abs=0.01)
    np.testing.assert_array_equal(np.asarray(net.get_layer("hidden_1").kernel), 0.0)


def test_final_metrics_reads_the_last_epoch_and_the_gap():
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.5, 0.2], "accuracy": [0.5, 0.7, 0.9],
                            "val_loss": [1.1, 0.6, 0.7], "val_accuracy": [0.4, 0.6, 0.65], "seconds": [1.0, 1.0, 1.5]})
    row = training.final_metrics(history)
    assert row == {"train_loss": 0.2, "train_accuracy": 0.9, "val_loss": 0.7, "val_accuracy": 0.65, "gap": pytest.approx(0.5),
                   "best_val_epoch": 2, "epochs": 3, "seconds": 3.5}


def test_soft_targets_train_with_categorical_cross_entropy(tiny):
    onehot = np.eye(10, dtype="float32")
    soft = dataclasses.replace(tiny, y_train=onehot[tiny.y_train], y_val=onehot[tiny.y_val])
    training.set_seed(0)
    net = training.compile_classifier(models.mlp(tiny.x_train.shape[1:], (8,)), soft_targets=True)
    history = training.fit(net, soft, epochs=1, batch_size=64)
    assert np.isfinite(history.loss.iloc[0]) and type(net.loss).__name__ == "CategoricalCrossentropy"
    # exact one-hot targets give the same loss as integer labels with the sparse loss
    training.set_seed(0)
    sparse = training.compile_classifier(models.mlp(tiny.x_train.shape[1:], (8,)))
    assert type(sparse.loss).__name__ == "SparseCategoricalCrossentropy"
    assert training.fit(sparse, tiny, epochs=1, batch_size=64).loss.iloc[0] == pytest.approx(history.loss.iloc[0], rel=1e-5)


def test_loss_is_the_cross_entropy_without_the_weight_penalty(tiny):
    training.set_seed(0)
    net = training.compile_classifier(models.mlp(tiny.x_train.shape[1:], (8,), penalty="l2", strength=0.1))
    history = training.fit(net, tiny, epochs=1, batch_size=64)
    assert (history.objective > history.loss).all() and (history.val_objective > history.val_loss).all()
    penalty = float(sum(keras.ops.convert_to_numpy(v) for v in net.losses))
    assert history.val_objective.iloc[0] - history.val_loss.iloc[0] == pytest.approx(penalty, rel=1e-3)
    assert training.evaluate(net, tiny.x_val, tiny.y_val)["loss"] == pytest.approx(history.val_loss.iloc[0], rel=1e-5)


def test_final_metrics_of_a_diverged_run_reports_nan_and_no_best_epoch():
    nan = float("nan")
    history = pd.DataFrame({"epoch": [1, 2], "loss": [2.0, nan], "accuracy": [0.1, 0.1], "val_loss": [nan, nan],
                            "val_accuracy": [0.1, 0.1], "seconds": [1.0, 1.0]})
    row = training.final_metrics(history)
    assert np.isnan(row["train_loss"]) and np.isnan(row["gap"]) and row["best_val_epoch"] is None
