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
    net = training.compile_classifier(
        models.mlp(ds.x_train.shape[1:], (16,), kernel_initializer=init, seed=seed)
    )
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


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a TensorFlow trace count")
def test_fit_traces_the_training_step_once_and_trains_as_a_keras_build_would(tiny, monkeypatch):
    net_a, a = train(tiny, 3)  # training.fit builds the optimizer and metrics first
    monkeypatch.setattr(training, "build_before_fit", lambda *args: None)  # Keras's default
    net_b, b = train(tiny, 3)
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))
    for wa, wb in zip(net_a.get_weights(), net_b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    monkeypatch.undo()
    training.set_seed(3)
    net = training.compile_classifier(models.mlp(tiny.x_train.shape[1:], (16,), seed=3))
    traces, step = [], net.train_step
    net.train_step = lambda batch: traces.append(1) or step(batch)
    training.fit(net, tiny, epochs=2, batch_size=64, label="t")
    assert len(traces) == 1, f"the training step was traced {len(traces)} times, expected once"


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
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": [1.0, 0.5, 0.2],
            "accuracy": [0.5, 0.7, 0.9],
            "val_loss": [1.1, 0.6, 0.7],
            "val_accuracy": [0.4, 0.6, 0.65],
            "seconds": [1.0, 1.0, 1.5],
        }
    )
    row = training.final_metrics(history)
    assert row == {
        "train_loss": 0.2,
        "train_accuracy": 0.9,
        "val_loss": 0.7,
        "val_accuracy": 0.65,
        "gap": pytest.approx(0.5),
        "best_val_epoch": 2,
        "epochs": 3,
        "seconds": 3.5,
    }


def test_soft_targets_train_with_categorical_cross_entropy(tiny):
    onehot = np.eye(10, dtype="float32")
    soft = dataclasses.replace(tiny, y_train=onehot[tiny.y_train], y_val=onehot[tiny.y_val])
    training.set_seed(0)
    net = training.compile_classifier(models.mlp(tiny.x_train.shape[1:], (8,)), soft_targets=True)
    history = training.fit(net, soft, epochs=1, batch_size=64)
    assert (
        np.isfinite(history.loss.iloc[0]) and type(net.loss).__name__ == "CategoricalCrossentropy"
    )
    # exact one-hot targets give the same loss as integer labels with the sparse loss
    training.set_seed(0)
    sparse = training.compile_classifier(models.mlp(tiny.x_train.shape[1:], (8,)))
    assert type(sparse.loss).__name__ == "SparseCategoricalCrossentropy"
    assert training.fit(sparse, tiny, epochs=1, batch_size=64).loss.iloc[0] == pytest.approx(
        history.loss.iloc[0], rel=1e-5
    )


def test_loss_is_the_cross_entropy_without_the_weight_penalty(tiny):
    training.set_seed(0)
    net = training.compile_classifier(
        models.mlp(tiny.x_train.shape[1:], (8,), penalty="l2", strength=0.1)
    )
    history = training.fit(net, tiny, epochs=1, batch_size=64)
    assert (history.objective > history.loss).all() and (
        history.val_objective > history.val_loss
    ).all()
    penalty = float(sum(keras.ops.convert_to_numpy(v) for v in net.losses))
    assert history.val_objective.iloc[0] - history.val_loss.iloc[0] == pytest.approx(
        penalty, rel=1e-3
    )
    assert training.evaluate(net, tiny.x_val, tiny.y_val)["loss"] == pytest.approx(
        history.val_loss.iloc[0], rel=1e-5
    )


def test_validation_callback_logs_what_keras_validation_data_logs(tiny):
    config = dict(penalty="l2", strength=0.05, dropout=0.3, batch_norm=True)
    logged = {}
    for way in ("keras", "labs_lib"):
        training.set_seed(0)
        net = training.compile_classifier(
            models.mlp(tiny.x_train.shape[1:], (16, 8), **config), steps_per_execution=4
        )
        if way == "keras":
            history = net.fit(
                tiny.x_train,
                tiny.y_train,
                validation_data=(tiny.x_val, tiny.y_val),
                epochs=3,
                batch_size=32,
                verbose=0,
            )
        else:
            history = net.fit(
                tiny.x_train,
                tiny.y_train,
                callbacks=[training.Validation(tiny.x_val, tiny.y_val)],
                epochs=3,
                batch_size=32,
                verbose=0,
            )
        logged[way] = {k: np.array(v) for k, v in history.history.items() if k.startswith("val_")}
    assert (
        sorted(logged["labs_lib"])
        == sorted(logged["keras"])
        == ["val_accuracy", "val_cross_entropy", "val_loss"]
    )
    for key, values in logged["keras"].items():
        np.testing.assert_allclose(logged["labs_lib"][key], values, rtol=1e-5, err_msg=key)


def test_predict_logits_equals_keras_predict_for_one_and_for_side_by_side_outputs(tiny):
    net = models.mlp(tiny.x_train.shape[1:], (8,), seed=0, name="a")
    np.testing.assert_allclose(
        training.predict_logits(net, tiny.x_val, batch_size=7),
        net.predict(tiny.x_val, verbose=0),
        rtol=1e-6,
        atol=1e-6,
    )
    side = models.side_by_side([net, models.mlp(tiny.x_train.shape[1:], (4,), seed=1, name="b")])
    outputs = training.predict_logits(side, tiny.x_val, batch_size=30)
    assert (
        isinstance(outputs, list)
        and len(outputs) == 2
        and outputs[0].shape == (len(tiny.x_val), 10)
    )
    for mine, keras_out in zip(outputs, side.predict(tiny.x_val, verbose=0)):
        np.testing.assert_allclose(mine, keras_out, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="x must hold at least one example, got 0"):
        training.predict_logits(net, tiny.x_val[:0])


def test_logit_metrics_of_one_hot_targets_equal_those_of_integer_labels():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(50, 10)) * 3, rng.integers(0, 10, 50)
    assert training.logit_metrics(np.eye(10)[labels], logits) == pytest.approx(
        training.logit_metrics(labels, logits)
    )


def test_final_metrics_of_a_diverged_run_reports_nan_and_no_best_epoch():
    nan = float("nan")
    history = pd.DataFrame(
        {
            "epoch": [1, 2],
            "loss": [2.0, nan],
            "accuracy": [0.1, 0.1],
            "val_loss": [nan, nan],
            "val_accuracy": [0.1, 0.1],
            "seconds": [1.0, 1.0],
        }
    )
    row = training.final_metrics(history)
    assert np.isnan(row["train_loss"]) and np.isnan(row["gap"]) and row["best_val_epoch"] is None


# ------------------------------------------------------------ early stopping and mid-run evaluation


def plateau_stop(values, min_delta, patience):
    """Index of the value at which Plateau says stop, or None."""
    rule = training.Plateau(min_delta, patience)
    return next((i for i, v in enumerate(values) if rule.update(v)), None)


def test_plateau_stops_after_patience_values_without_a_min_delta_improvement():
    assert (
        plateau_stop([1.0] * 10, min_delta=1e-5, patience=3) == 3
    )  # first value is the best; 3 more fail
    assert plateau_stop([1.0, 0.995, 0.991, 0.992, 0.5], min_delta=0.01, patience=3) == 3
    assert (
        plateau_stop([1.0, 0.995, 0.989, 0.992, 0.99, 0.975, 0.97], min_delta=0.01, patience=3)
        is None
    )  # 0.989, 0.975 reset


def test_plateau_never_stops_while_every_value_improves_by_min_delta():
    assert plateau_stop(list(np.arange(1.0, 0.0, -0.01)), min_delta=0.005, patience=2) is None


def test_plateau_counts_small_improvements_that_add_up_to_min_delta_over_the_best():
    creep = [
        1.0 - 0.004 * i for i in range(50)
    ]  # 0.004 per value, min_delta 0.01: the best moves every 3rd value
    assert plateau_stop(creep, min_delta=0.01, patience=3) is None
    assert plateau_stop(creep, min_delta=0.01, patience=2) == 2


def test_plateau_refuses_bad_arguments():
    with pytest.raises(ValueError, match="min_delta=-1"):
        training.Plateau(-1, 5)
    with pytest.raises(ValueError, match="patience=0"):
        training.Plateau(1e-5, 0)


def test_cross_entropy_matches_keras_and_survives_huge_logits():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(50, 10)).astype("float32") * 5, rng.integers(0, 10, 50)
    keras_value = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, z))
    assert training.cross_entropy(y, z) == pytest.approx(keras_value, rel=1e-5)
    assert training.cross_entropy([1], np.array([[1000.0, 0.0]])) == pytest.approx(1000.0)


def early_stopping_fit(ds, lr, patience, check_every=4, epochs=3, spe=1):
    training.set_seed(0)
    net = models.mlp(ds.x_train.shape[1:], (16,), seed=0)
    training.compile_classifier(net, lr, steps_per_execution=spe, optimizer="sgd")
    stopper = training.EarlyStopping(
        ds.x_val, ds.y_val, min_delta=1e-5, patience=patience, check_every=check_every
    )
    history = training.fit(
        net, ds, epochs=epochs, batch_size=20, callbacks=[stopper]
    )  # 20 steps per epoch
    return stopper, history


def test_early_stopping_stops_exactly_when_the_validation_loss_stops_improving(tiny):
    stopper, history = early_stopping_fit(
        tiny, lr=1e-12, patience=3
    )  # weights frozen: the loss never improves
    assert list(stopper.checks.step) == [4, 8, 12, 16]
    assert stopper.stopped_step == 16 and len(history) == 1
    assert stopper.checks.val_loss.nunique() == 1


def test_early_stopping_does_not_stop_while_the_validation_loss_improves(tiny):
    stopper, history = early_stopping_fit(tiny, lr=0.05, patience=3)
    improvements = -np.diff(stopper.checks.val_loss)
    assert stopper.stopped_step is None and len(history) == 3 and len(stopper.checks) == 15
    assert (
        np.convolve(improvements >= 1e-5, np.ones(3), "valid") > 0
    ).all()  # never 3 failures in a row


def test_early_stopping_checks_at_execution_boundaries_with_steps_per_execution(tiny):
    stopper, _ = early_stopping_fit(tiny, lr=1e-12, patience=2, check_every=8, spe=4)
    assert (
        list(stopper.checks.step) == [8, 16, 24] and stopper.stopped_step == 24
    )  # crosses into epoch 2


def test_evaluating_at_epoch_e_of_a_long_run_equals_an_e_epoch_run(tiny):
    def run(epochs):
        training.set_seed(3)
        net = training.compile_classifier(models.mlp(tiny.x_train.shape[1:], (16,), seed=3))
        at = training.EvaluateAtEpochs(tiny.x_test, tiny.y_test, epochs=[1, epochs])
        training.fit(net, tiny, epochs=epochs, batch_size=64, callbacks=[at])
        return at, net

    long_run = run(3)[0]
    short_at, short_net = run(1)
    assert set(long_run.results) == {1, 3}
    direct = training.evaluate(short_net, tiny.x_test, tiny.y_test)
    assert long_run.results[1]["accuracy"] == pytest.approx(direct["accuracy"])
    assert long_run.results[1]["loss"] == pytest.approx(direct["loss"], rel=1e-5)


def test_execution_steps_divide_the_checking_interval():
    best = training.STEPS_PER_EXECUTION.get(keras.backend.backend(), 1)
    assert training.execution_steps() == best
    assert training.execution_steps(divisor_of=100) == np.gcd(best, 100)
    assert 96 % training.execution_steps(divisor_of=96) == 0


# ---------------------------------------------------------------- several nets trained side by side

SIDE_CONFIGS = [
    dict(penalty="l2", strength=0.01),
    dict(penalty="l2", strength=0.04, batch_norm="scratch"),
    dict(batch_norm=True),
    dict(dropout=0.3, penalty="l1", strength=0.001),
    dict(input_noise_variance=0.1),
]


def side_net(ds, i, config):
    return models.mlp(ds.x_train.shape[1:], (16, 8), seed=0, name=f"net_{i}", **config)


def test_side_by_side_training_equals_separate_runs(tiny):
    training.set_seed(0)
    model = models.side_by_side([side_net(tiny, i, c) for i, c in enumerate(SIDE_CONFIGS)])
    training.compile_classifier(model, 0.05, optimizer="sgd", steps_per_execution=4)
    at = training.EvaluateAtEpochs(tiny.x_test, tiny.y_test, epochs=[2])
    together = training.fit_side_by_side(model, tiny, epochs=2, batch_size=32, callbacks=[at])
    assert list(together) == [f"net_{i}" for i in range(len(SIDE_CONFIGS))]
    for i, config in enumerate(SIDE_CONFIGS):
        training.set_seed(0)
        alone = training.compile_classifier(
            side_net(tiny, i, config), 0.05, optimizer="sgd", steps_per_execution=4
        )
        history = training.fit(alone, tiny, epochs=2, batch_size=32)
        columns = ["loss", "accuracy", "val_loss", "val_accuracy"]
        np.testing.assert_allclose(
            together[f"net_{i}"][columns], history[columns], rtol=1e-4, atol=1e-5
        )
        direct = training.evaluate(alone, tiny.x_test, tiny.y_test)
        assert at.results[2][f"net_{i}"]["accuracy"] == pytest.approx(direct["accuracy"])
        assert at.results[2][f"net_{i}"]["loss"] == pytest.approx(direct["loss"], rel=1e-4)
        for w_together, w_alone in zip(
            model.get_layer(f"net_{i}").get_weights(), alone.get_weights()
        ):
            np.testing.assert_allclose(w_together, w_alone, rtol=1e-4, atol=1e-5)


def test_side_by_side_nets_learn_their_own_labels_as_separate_runs_would(tiny):
    shuffled = data.shuffled_labels(tiny.y_train, seed=3)
    training.set_seed(0)
    model = training.compile_classifier(
        models.side_by_side([side_net(tiny, 0, {}), side_net(tiny, 1, {})]), 0.01
    )
    together = training.fit_side_by_side(
        model, tiny, epochs=2, batch_size=32, y_train={"net_1": shuffled}
    )
    for name, ds in (("net_0", tiny), ("net_1", dataclasses.replace(tiny, y_train=shuffled))):
        training.set_seed(0)
        alone = training.fit(
            training.compile_classifier(side_net(tiny, int(name[-1]), {}), 0.01),
            ds,
            epochs=2,
            batch_size=32,
        )
        np.testing.assert_allclose(
            together[name][["loss", "val_loss"]], alone[["loss", "val_loss"]], rtol=1e-4, atol=1e-5
        )
    with pytest.raises(
        ValueError, match=r"y_train names nets \['net_9'\] that the model does not have"
    ):
        training.fit_side_by_side(model, tiny, epochs=1, batch_size=32, y_train={"net_9": shuffled})


def test_side_by_side_of_one_net_equals_its_separate_run(tiny):
    training.set_seed(0)
    model = training.compile_classifier(models.side_by_side([side_net(tiny, 0, {})]), 0.01)
    together = training.fit_side_by_side(model, tiny, epochs=2, batch_size=32)
    training.set_seed(0)
    alone = training.fit(
        training.compile_classifier(side_net(tiny, 0, {}), 0.01), tiny, epochs=2, batch_size=32
    )
    columns = ["loss", "accuracy", "val_loss", "val_accuracy"]
    np.testing.assert_allclose(together["net_0"][columns], alone[columns], rtol=1e-5, atol=1e-6)


def test_side_by_side_refuses_duplicate_names_and_mixed_inputs(tiny):
    a = models.mlp((4,), (3,), name="a")
    with pytest.raises(ValueError, match=r"distinct model names, got \['a', 'a'\]"):
        models.side_by_side([a, models.mlp((4,), (3,), name="a")])
    with pytest.raises(ValueError, match="one input shape"):
        models.side_by_side([a, models.mlp((5,), (3,), name="b")])


def test_side_by_side_log_lists_validation_accuracies_in_the_models_output_order(tiny, capsys):
    nets = [
        models.mlp(tiny.x_train.shape[1:], (w,), seed=w, name=f"width_{w}") for w in (2, 12, 3)
    ]  # names sort 12, 2, 3
    model = training.compile_classifier(models.side_by_side(nets), 0.01)
    histories = training.fit_side_by_side(model, tiny, epochs=1, batch_size=64, label="widths")
    shown = capsys.readouterr().out.split("val_accuracy ")[1].split("  (")[0].split(" / ")
    assert shown == [f"{histories[f'width_{w}'].val_accuracy.iloc[-1]:.3f}" for w in (2, 12, 3)]


def test_tensorboard_logs_hold_each_fits_epoch_losses_under_its_label(tiny, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    note = training.tensorboard_logs(tmp_path / "tb")
    try:
        _, history = train(tiny, 0, epochs=3)
    finally:
        training.tensorboard_logs(None)
    assert f"tensorboard --logdir {tmp_path / 'tb'}" in note
    events = EventAccumulator(str(tmp_path / "tb" / "t" / "validation"))
    events.Reload()
    tag = next(t for t in events.Tags()["tensors"] if t.endswith("loss") and "cross" not in t)
    assert len(events.Tensors(tag)) == 3  # one value per epoch
    train(tiny, 0, epochs=1)  # logs off again: nothing new is written
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["t"]


def test_tensorboard_logs_say_so_and_stay_off_without_tensorflow(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow" else real(name, *a),
    )
    note = training.tensorboard_logs(tmp_path / "tb")
    assert "skipped" in note and "tensorflow is not installed" in note
    assert training.tensorboard_callbacks("x") == []


# ---------------------------------------------------------------- repeats over seeds


def build_small(ds):
    def build(net_seed, name, **options):
        return models.mlp(ds.x_train.shape[1:], (16,), seed=net_seed, name=name, **options)

    return build


def test_train_repeats_gives_one_history_per_seed_and_repeat_0_is_the_single_run(tiny):
    configs = {"plain": {}, "dropout": {"dropout": 0.5}}
    runs, nets = training.train_repeats(
        build_small(tiny),
        configs,
        tiny,
        repeats=3,
        seed=5,
        epochs=2,
        batch_size=64,
        return_nets=True,
    )
    assert list(runs) == ["plain", "dropout"] and all(len(r) == 3 for r in runs.values())
    assert all(len(n) == 3 for n in nets.values())
    single = training.train_repeats(
        build_small(tiny), {"plain": {}}, tiny, repeats=1, seed=5, epochs=2, batch_size=64
    )
    np.testing.assert_allclose(runs["plain"][0].val_loss, single["plain"][0].val_loss, rtol=1e-6)
    finals = [h.val_loss.iloc[-1] for h in runs["plain"]]
    assert len(set(np.round(finals, 6))) == 3  # other weights and data order: other results


def test_repeat_orders_keep_the_data_order_first_and_permute_the_others():
    orders = training.repeat_orders(50, 3, seed=0)
    np.testing.assert_array_equal(orders[0], np.arange(50))
    assert all(sorted(o) == list(range(50)) for o in orders)
    assert not np.array_equal(orders[1], orders[2]) and not np.array_equal(orders[1], orders[0])
    assert training.repeat_seed(0, 2) != training.repeat_seed(0, 1)


def test_clean_evaluation_gives_the_inference_mode_training_loss_and_keeps_the_running_one(tiny):
    clean = (tiny.x_train[:100], tiny.y_train[:100])
    runs = training.train_repeats(
        build_small(tiny),
        {"dropout": {"dropout": 0.5}},
        tiny,
        repeats=1,
        seed=0,
        epochs=2,
        batch_size=64,
        clean=clean,
    )
    history = runs["dropout"][0]
    assert {"eval_loss", "eval_accuracy"} <= set(history)
    net = training.train_repeats(
        build_small(tiny),
        {"dropout": {"dropout": 0.5}},
        tiny,
        repeats=1,
        seed=0,
        epochs=2,
        batch_size=64,
        return_nets=True,
    )[1]["dropout"][0]
    expected = training.evaluate(net, *clean)
    assert history.eval_loss.iloc[-1] == pytest.approx(expected["loss"], rel=1e-5)
    row = training.final_metrics(history)
    assert row["train_loss"] == pytest.approx(history.eval_loss.iloc[-1])
    assert row["running_loss"] == pytest.approx(history.loss.iloc[-1])
    assert row["gap"] == pytest.approx(row["val_loss"] - row["train_loss"])


def test_side_by_side_refuses_an_input_left_unused(tiny):
    nets = [models.mlp(tiny.x_train.shape[1:], (4,), name=f"n{i}") for i in range(2)]
    with pytest.raises(ValueError, match="inputs_of"):
        models.side_by_side(nets, inputs_of=[0, 2])
