"""Training helpers: history shape, reproducibility, evaluation."""
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
