"""Training helpers: seeding, compiling a classifier, fitting with a quiet log, evaluating.

Histories come back as pandas DataFrames, one row per epoch.
"""
import time

import keras
import numpy as np
import pandas as pd

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    # Building one model per configuration in a loop makes TF warn about retracing: expected here, not a problem.
    tf.get_logger().setLevel("ERROR")


def set_seed(seed):
    """Seed Python, NumPy and the backend: the same seed gives the same metrics on CPU.

    (TensorFlow's op determinism is not needed for these models on CPU and costs ~1.5x; tests check.)
    """
    keras.utils.set_random_seed(int(seed))


# Batches per compiled call, measured per backend by benchmarks/bench_fit.py on a 2-core CPU:
# TensorFlow runs 1.9x faster per epoch with 32; JAX gains nothing (its step is already compiled).
STEPS_PER_EXECUTION = {"tensorflow": 32, "jax": 1}


OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}


def compile_classifier(model, lr=1e-3, steps_per_execution=None, soft_targets=False, optimizer="adam"):
    """Compile a logits model: optimizer (adam or plain sgd), cross-entropy from logits, accuracy.

    soft_targets: False for integer labels (sparse cross-entropy), True for one-hot or noisy target
    rows (categorical cross-entropy). steps_per_execution: batches per compiled call; None = the
    measured best for the backend.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {{{', '.join(OPTIMIZERS)}}}, got {optimizer!r}")
    if steps_per_execution is None:
        steps_per_execution = STEPS_PER_EXECUTION.get(keras.backend.backend(), 1)
    loss = keras.losses.CategoricalCrossentropy if soft_targets else keras.losses.SparseCategoricalCrossentropy
    xent = keras.metrics.CategoricalCrossentropy if soft_targets else keras.metrics.SparseCategoricalCrossentropy
    model.compile(optimizer=OPTIMIZERS[optimizer](learning_rate=lr), loss=loss(from_logits=True),
                  metrics=["accuracy", xent(from_logits=True, name="cross_entropy")],
                  steps_per_execution=steps_per_execution)
    return model


class EpochLog(keras.callbacks.Callback):
    """Prints one short line every `every` epochs (and the last) and times each epoch."""

    def __init__(self, label, epochs, every=None):
        super().__init__()
        self.label, self.epochs = label, epochs
        self.every = every or max(1, epochs // 5)
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs:
            logs = logs or {}
            shown = "  ".join(f"{name} {logs[key]:.4g}" for name, key in (
                ("loss", "cross_entropy" if "cross_entropy" in logs else "loss"), ("accuracy", "accuracy"),
                ("val_loss", "val_cross_entropy" if "val_cross_entropy" in logs else "val_loss"),
                ("val_accuracy", "val_accuracy")) if key in logs)
            print(f"{self.label}: epoch {epoch + 1}/{self.epochs}  {shown}  ({sum(self.seconds):.1f} s)", flush=True)


def fit(model, data, *, epochs, batch_size, label="model", log_every=None, callbacks=()):
    """Train on data.x_train, validating on data.x_val each epoch; returns the history DataFrame.

    Columns: epoch (1-based), loss, accuracy, val_loss, val_accuracy, objective, val_objective,
    seconds (wall time of the epoch). loss is the cross-entropy alone; objective is what the
    optimizer minimizes (cross-entropy plus any weight penalty), so losses compare across runs.
    """
    log = EpochLog(label, epochs, log_every)
    history = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
                        epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[log, *callbacks])
    frame = pd.DataFrame(history.history)
    if "cross_entropy" in frame:
        frame = frame.rename(columns={"loss": "objective", "val_loss": "val_objective",
                                      "cross_entropy": "loss", "val_cross_entropy": "val_loss"})
    frame.insert(0, "epoch", range(1, len(frame) + 1))
    frame["seconds"] = log.seconds
    return frame


def final_metrics(history):
    """The last epoch of a history as a table row: train/val loss, val accuracy, gap, epochs, seconds.

    gap = validation loss - training loss (the generalization gap; negative when training is harder).
    A run that diverged (loss NaN) gets NaN losses and best_val_epoch None.
    """
    last = history.iloc[-1]
    finite = history.val_loss[np.isfinite(history.val_loss)]
    return {"train_loss": float(last.loss), "train_accuracy": float(last.accuracy), "val_loss": float(last.val_loss),
            "val_accuracy": float(last.val_accuracy), "gap": float(last.val_loss - last.loss),
            "best_val_epoch": int(finite.idxmin()) + 1 if len(finite) else None, "epochs": len(history),
            "seconds": round(float(history.seconds.sum()), 1)}


def evaluate(model, x, y, batch_size=1024):
    """Cross-entropy loss (without weight penalties) and accuracy of a compiled model on (x, y); NaN if empty."""
    if len(x) == 0:
        return {"loss": float("nan"), "accuracy": float("nan")}
    result = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return {"loss": float(result.get("cross_entropy", result["loss"])), "accuracy": float(result["accuracy"])}
