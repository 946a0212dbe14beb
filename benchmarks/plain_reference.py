"""The plain reference of benchmarks/bench_plain.py: the notebooks trained the plain way past lab
reports did.

`install()` swaps, in labs_lib's modules, the speed levers for what a plain notebook would write:
- `training.compile_classifier`: steps_per_execution 1 (Keras's default);
- `training.fit`: Keras's `validation_data` in place of the `Validation` callback;
- `training.fit_side_by_side`: one compile and fit per net (when every callback is an
  EvaluateAtEpochs; other callbacks, such as 07's weight trajectories, keep the side-by-side fit);
- `training.predict_logits`: `model.predict`;
- `training.build_before_fit`: nothing (Keras makes the variables in a first trace, then retraces);
- `loops.trainer` (objective "loss"): one `model.fit` epoch per full-batch step, a Python round trip
  each.
Results are not those of the normal runs. bench_plain.py makes each notebook's kernel call
`install()` before its first cell (plain_startup.py as the kernel's PYTHONSTARTUP); labs_lib itself
knows nothing of this mode.
"""

import dataclasses

import keras
import numpy as np

from labs_lib import loops, training

ORIGINAL = {
    "compile_classifier": training.compile_classifier,
    "fit_side_by_side": training.fit_side_by_side,
    "trainer": loops.trainer,
}


def install(patch=setattr):
    """Put the plain versions in place; `patch` is setattr (or pytest's monkeypatch.setattr, undone
    after)."""
    patch(training, "compile_classifier", compile_classifier)
    patch(training, "fit", fit)
    patch(training, "fit_side_by_side", fit_side_by_side)
    patch(training, "predict_logits", predict_logits)
    patch(training, "build_before_fit", build_before_fit)
    patch(loops, "trainer", trainer)


def build_before_fit(model, x, y):
    """Keras's default: no pre-build, the variables are created during the first trace."""


def compile_classifier(model, lr=1e-3, steps_per_execution=None, **options):
    """training.compile_classifier with Keras's default of one batch per compiled call."""
    steps = 1 if steps_per_execution is None else steps_per_execution
    return ORIGINAL["compile_classifier"](model, lr, steps, **options)


def fit(model, data, *, epochs, batch_size, label="model", log_every=None, callbacks=()):
    """training.fit validating with Keras's validation_data (an evaluate call per epoch)."""
    log = training.EpochLog(label, epochs, log_every)
    history = model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        validation_data=(data.x_val, data.y_val),
        callbacks=[log, *training.tensorboard_callbacks(label), *callbacks],
    )
    return training.history_frame(history, log)


def fit_side_by_side(model, data, *, callbacks=(), **options):
    """training.fit_side_by_side as separate runs, one net after the other (see the module
    docstring)."""
    if all(isinstance(cb, training.EvaluateAtEpochs) for cb in callbacks):
        return fit_separately(model, data, callbacks=callbacks, **options)
    return ORIGINAL["fit_side_by_side"](model, data, callbacks=callbacks, **options)


def fit_separately(
    model,
    data,
    *,
    epochs,
    batch_size,
    label="side by side",
    log_every=None,
    callbacks=(),
    y_train=None,
):
    """One compile and fit per net of a side_by_side model. EvaluateAtEpochs callbacks get each
    net's results under its name, as after a side-by-side fit."""
    y_train = y_train or {}
    optimizer = next(
        k for k, cls in training.OPTIMIZERS.items() if isinstance(model.optimizer, cls)
    )
    loss = (
        model.loss[0] if isinstance(model.loss, (list, tuple)) else model.loss
    )  # one net: one loss
    soft = isinstance(loss, keras.losses.CategoricalCrossentropy)
    frames = {}
    for name in model.output_names:
        lr = float(model.optimizer.learning_rate)
        net = compile_classifier(model.get_layer(name), lr, soft_targets=soft, optimizer=optimizer)
        own = dataclasses.replace(data, y_train=y_train[name]) if name in y_train else data
        clones = [training.EvaluateAtEpochs(cb.x, cb.y, cb.epochs) for cb in callbacks]
        frames[name] = fit(
            net,
            own,
            epochs=epochs,
            batch_size=batch_size,
            label=f"{label}: {name}",
            log_every=log_every,
            callbacks=clones,
        )
        for cb, clone in zip(callbacks, clones):
            for epoch, measured in clone.results.items():
                cb.results.setdefault(epoch, {})[name] = measured
    return frames


def predict_logits(model, x, batch_size=4096):
    """training.predict_logits through model.predict (a dataset built per call)."""
    outputs = model.predict(np.asarray(x), batch_size=batch_size, verbose=0)
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return np.asarray(outputs)


def trainer(model, optimizer, x, y, loss="mse", objective="loss"):
    """loops.trainer, with the loss descended by model.fit (gradient-norm descent stays
    compiled)."""
    if objective != "loss":
        return ORIGINAL["trainer"](model, optimizer, x, y, loss, objective)
    return plain_trainer(model, optimizer, x, y, loss)


def plain_trainer(model, optimizer, x, y, loss="mse"):
    """run(n) is one model.fit of n full-batch epochs; gradient norms are not measured (NaN)."""
    n_outputs = len(model.outputs)
    model.compile(optimizer=optimizer, loss=loss if n_outputs == 1 else [loss] * n_outputs)
    targets = y if n_outputs == 1 else [y] * n_outputs

    def call(n):
        history = model.fit(x, targets, batch_size=len(x), epochs=int(n), shuffle=False, verbose=0)
        return np.asarray(history.history["loss"]), np.full(int(n), np.nan)

    return call
