"""The benchmarks' plain reference (benchmarks/plain_reference.py), patched into labs_lib from
outside it."""

import dataclasses
import os
import sys

import bench_plain
import keras
import numpy as np
import plain_reference
import pytest

from labs_lib import data, loops, models, training


@pytest.fixture(scope="module")
def tiny():
    return data.load("synthetic", like="mnist", n_train=400, n_val=100, n_test=100, seed=0)


@pytest.fixture
def plain(monkeypatch):
    """The plain reference installed for one test (monkeypatch undoes it)."""
    plain_reference.install(monkeypatch.setattr)


def side_net(ds, i):
    return models.mlp(ds.x_train.shape[1:], (16, 8), seed=0, name=f"net_{i}")


def test_plain_reference_trains_side_by_side_nets_one_fit_each_with_keras_defaults(
    tiny, plain, capsys
):
    nets = [side_net(tiny, 0), side_net(tiny, 1)]
    model = training.compile_classifier(models.side_by_side(nets), 0.01, optimizer="sgd")
    assert model.steps_per_execution == 1
    at = training.EvaluateAtEpochs(tiny.x_test, tiny.y_test, epochs=[1, 2])
    histories = training.fit_side_by_side(
        model, tiny, epochs=2, batch_size=32, label="pair", callbacks=[at]
    )
    out = capsys.readouterr().out
    assert "pair: net_0: epoch 2/2" in out and "pair: net_1: epoch 2/2" in out  # two separate fits
    for name in ("net_0", "net_1"):
        net = model.get_layer(name)
        assert type(net.optimizer).__name__ == "SGD"
        assert float(net.optimizer.learning_rate) == pytest.approx(0.01)
        assert list(histories[name].epoch) == [1, 2]
        val = training.evaluate(net, tiny.x_val, tiny.y_val)["loss"]
        assert histories[name].val_loss.iloc[-1] == pytest.approx(val, rel=1e-4)
        test = training.evaluate(net, tiny.x_test, tiny.y_test)["loss"]
        assert at.results[2][name]["loss"] == pytest.approx(test, rel=1e-4)


def test_plain_reference_fits_a_one_net_side_by_side_model_with_soft_targets(tiny, plain):
    """01's label-noise run: one net, target rows (Keras keeps a one-output model's loss as one
    object)."""
    onehot = np.eye(10, dtype="float32")
    soft = dataclasses.replace(tiny, y_train=onehot[tiny.y_train], y_val=onehot[tiny.y_val])
    model = models.side_by_side([side_net(tiny, 0)])
    training.compile_classifier(model, 0.01, soft_targets=True)
    histories = training.fit_side_by_side(model, soft, epochs=2, batch_size=32, label="one")
    net = model.get_layer("net_0")
    assert isinstance(net.loss, keras.losses.CategoricalCrossentropy)
    assert list(histories["net_0"].epoch) == [1, 2]
    val = training.evaluate(net, tiny.x_val, tiny.y_val)["loss"]
    assert histories["net_0"].val_loss.iloc[-1] == pytest.approx(val, rel=1e-4)


def small_net():
    keras.utils.set_random_seed(0)
    return models.regressor([10, 10], seed=0)


def test_plain_reference_runs_one_model_fit_epoch_per_step_with_the_same_losses(monkeypatch):
    x, y = data.function_samples("f1", 50)
    adam = keras.optimizers.Adam
    compiled, _ = loops.fit_full_batch(small_net(), adam(1e-3), x, y, epochs=30, chunk=10)
    plain_reference.install(monkeypatch.setattr)
    net = small_net()
    plain, _ = loops.fit_full_batch(net, adam(1e-3), x, y, epochs=30, chunk=10)
    assert net.compiled and net.steps_per_execution == 1  # trained by model.fit
    np.testing.assert_allclose(plain.loss, compiled.loss, rtol=1e-5, atol=1e-7)
    assert plain.grad_norm.isna().all()


def test_labs_lib_runs_its_own_way_without_the_benchmark():
    assert training.fit.__module__ == "labs_lib.training"
    assert loops.trainer.__module__ == "labs_lib.loops"


def test_bench_plain_environment_installs_the_reference_in_a_notebook_kernel():
    """What bench_plain.py gives `labs run`: each kernel starts with the plain functions, no new
    names."""
    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ, **bench_plain.plain_env())
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        code = (
            "from labs_lib import loops, training\n"
            "print(training.fit.__module__, loops.trainer.__module__, 'plain_reference' in dir())"
        )
        out = []
        kc.execute_interactive(code, timeout=120, output_hook=lambda m: out.append(m))
        text = "".join(m["content"].get("text", "") for m in out if m["msg_type"] == "stream")
        assert text.split() == ["plain_reference", "plain_reference", "False"], (
            text,
            sys.executable,
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
