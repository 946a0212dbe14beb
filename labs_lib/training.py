"""Training helpers: seeding, compiling a classifier, fitting with a quiet log, evaluating.

Histories come back as pandas DataFrames, one row per epoch. Loss helpers take (labels, logits), the
order of Keras losses (y_true, y_pred), here and in every module of the package.
"""

import contextlib
import math
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from labs_lib import models
from labs_lib.reporting import plural

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    # Building one model per configuration in a loop makes TF warn about retracing: expected.
    tf.get_logger().setLevel("ERROR")


def set_seed(seed):
    """Seed Python, NumPy and the backend: the same seed gives the same metrics on CPU.

    (TensorFlow's op determinism, not needed for these models on CPU (tests check), costs ~1.5x.)
    """
    keras.utils.set_random_seed(int(seed))


# Batches per compiled call, measured per backend by benchmarks/bench_fit.py on a 2-core CPU:
# TensorFlow runs 1.9x faster per epoch with 32; JAX gains nothing (its step is already compiled).
STEPS_PER_EXECUTION = {"tensorflow": 32, "jax": 1}


def execution_steps(divisor_of=None):
    """The backend's measured best batches per compiled call, reduced to divide `divisor_of` (e.g. a
    callback's checking interval, since Keras calls batch callbacks once per execution)."""
    steps = STEPS_PER_EXECUTION.get(keras.backend.backend(), 1)
    return math.gcd(steps, int(divisor_of)) if divisor_of else steps


OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}


def compile_classifier(
    model, lr=1e-3, steps_per_execution=None, soft_targets=False, optimizer="adam"
):
    """Compile a logits model: optimizer (adam or plain sgd), cross-entropy from logits, accuracy.

    A models.side_by_side model gets the loss and metrics per output (its nets train independently).

    soft_targets: False for integer labels (sparse cross-entropy), True for one-hot or noisy target
    rows (categorical cross-entropy). steps_per_execution: batches per compiled call; None = the
    measured best for the backend.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {{{', '.join(OPTIMIZERS)}}}, got {optimizer!r}")
    if steps_per_execution is None:
        steps_per_execution = execution_steps()
    loss = (
        keras.losses.CategoricalCrossentropy
        if soft_targets
        else keras.losses.SparseCategoricalCrossentropy
    )
    xent = (
        keras.metrics.CategoricalCrossentropy
        if soft_targets
        else keras.metrics.SparseCategoricalCrossentropy
    )

    def metrics():  # fresh metric objects per output: a shared one would mix the outputs' values
        return ["accuracy", xent(from_logits=True, name="cross_entropy")]

    n_outputs = len(model.outputs)
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=lr),
        loss=loss(from_logits=True)
        if n_outputs == 1
        else [loss(from_logits=True) for _ in range(n_outputs)],
        metrics=metrics() if n_outputs == 1 else [metrics() for _ in range(n_outputs)],
        steps_per_execution=steps_per_execution,
    )
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
            side_by_side = "cross_entropy" not in logs and "accuracy" not in logs
            shown = net_accuracies(logs, self.model) if side_by_side else metric_summary(logs)
            seconds = sum(self.seconds)
            print(
                f"{self.label}: epoch {epoch + 1}/{self.epochs}  {shown}  ({seconds:.1f} s)",
                flush=True,
            )


def metric_summary(logs):
    """'loss x  accuracy x  val_loss x  val_accuracy x' from Keras logs, cross-entropy as loss."""
    keys = (
        ("loss", "cross_entropy" if "cross_entropy" in logs else "loss"),
        ("accuracy", "accuracy"),
        ("val_loss", "val_cross_entropy" if "val_cross_entropy" in logs else "val_loss"),
        ("val_accuracy", "val_accuracy"),
    )
    return "  ".join(f"{name} {logs[key]:.4g}" for name, key in keys if key in logs)


def net_accuracies(logs, model):
    """'val_accuracy a / b / ...': one per net of a side_by_side model, in its output order."""
    accs = [  # in the model's output order (logs come sorted by name)
        logs[f"val_{name}_accuracy"]
        for name in model.output_names
        if f"val_{name}_accuracy" in logs
    ]
    if len(accs) > 8:
        return f"val_accuracy {min(accs):.3f} to {max(accs):.3f} over {len(accs)} nets"
    return f"val_accuracy {' / '.join(f'{a:.3f}' for a in accs)}"


# Set by tensorboard_logs: where fit and fit_side_by_side write TensorBoard logs.
TENSORBOARD = {"folder": None}


def tensorboard_logs(folder):
    """Make every later `fit` write TensorBoard logs to folder/<label>/ (None: no logs).

    Returns a note to print. Keras writes the logs with tf.summary, so they need TensorFlow and
    TensorBoard installed (under either backend).
    """
    import importlib.util

    if folder is None:
        TENSORBOARD["folder"] = None
        return "TensorBoard logs: off (set tensorboard = True to write them)"
    missing = [m for m in ("tensorflow", "tensorboard") if importlib.util.find_spec(m) is None]
    if missing:
        TENSORBOARD["folder"] = None
        verb = "is" if len(missing) == 1 else "are"
        return (
            "TensorBoard logs: skipped. Keras writes them with TensorFlow's tf.summary, and "
            f"{' and '.join(missing)} {verb} not installed here "
            f"(backend {keras.backend.backend()}); the run goes on without them."
        )
    TENSORBOARD["folder"] = Path(folder)
    return (
        f"TensorBoard logs: {folder}/<run>/; compare the runs with: tensorboard --logdir {folder}"
    )


def tensorboard_callbacks(label):
    """[keras.callbacks.TensorBoard] writing to <logs folder>/<label>/, or [] when logs are off."""
    folder = TENSORBOARD["folder"]
    if folder is None:
        return []
    safe = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in label)
    return [
        keras.callbacks.TensorBoard(log_dir=str(folder / safe), histogram_freq=0, write_graph=False)
    ]


class Validation(keras.callbacks.Callback):
    """Adds the validation metrics to each epoch's logs as Keras's `validation_data` would, from
    `predict_logits`: val_loss (with the weight penalty), val_cross_entropy, val_accuracy (per
    output for a side_by_side model).

    Same values as Keras's validation; on TensorFlow it saves most of Keras's per-epoch evaluation
    overhead (87 ms against 25 ms an epoch for 1 000 images on a 2-core CPU: bench_eval.py).
    """

    def __init__(self, x, y, clean=None):
        super().__init__()
        self.x, self.y, self.clean = x, y, clean

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self.clean is not None:
            log_clean(logs, self.model, *self.clean)
        outputs = predict_logits(self.model, self.x)
        penalty = sum(float(keras.ops.convert_to_numpy(term)) for term in self.model.losses)
        if isinstance(outputs, list):
            total = penalty
            for name, logits, y in zip(self.model.output_names, outputs, self.y):
                measured = logit_metrics(y, logits)
                logs[f"val_{name}_cross_entropy"], logs[f"val_{name}_accuracy"] = (
                    measured["loss"],
                    measured["accuracy"],
                )
                total += measured["loss"]
            logs["val_loss"] = total
        else:
            measured = logit_metrics(self.y, outputs)
            logs["val_loss"], logs["val_cross_entropy"] = (
                measured["loss"] + penalty,
                measured["loss"],
            )
            logs["val_accuracy"] = measured["accuracy"]


def log_clean(logs, model, x, y):
    """Add eval_loss and eval_accuracy (per net: eval_<name>_...) to `logs`: the cross-entropy and
    accuracy on training examples x with true labels y, in inference mode (no dropout, noise or
    augmentation), unlike Keras's running training loss."""
    outputs = predict_logits(model, x)
    if not isinstance(outputs, list):
        measured = logit_metrics(y, outputs)
        logs["eval_loss"], logs["eval_accuracy"] = measured["loss"], measured["accuracy"]
        return
    for name, logits in zip(model.output_names, outputs):
        measured = logit_metrics(y, logits)
        logs[f"eval_{name}_loss"], logs[f"eval_{name}_accuracy"] = (
            measured["loss"],
            measured["accuracy"],
        )


def fit(model, data, *, epochs, batch_size, label="model", log_every=None, callbacks=()):
    """Train on data.x_train, validating on data.x_val each epoch; returns the history DataFrame.

    Columns: epoch (1-based), loss, accuracy, val_loss, val_accuracy, objective, val_objective,
    seconds (wall time of the epoch). loss is the cross-entropy alone; objective is what the
    optimizer minimizes (cross-entropy plus any weight penalty), so losses compare across runs.
    """
    log = EpochLog(label, epochs, log_every)
    build_before_fit(model, data.x_train, data.y_train)
    history = model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[
            Validation(data.x_val, data.y_val),
            log,
            *tensorboard_callbacks(label),
            *callbacks,
        ],
    )
    return history_frame(history, log)


def build_before_fit(model, x, y):
    """Create the optimizer's and metrics' variables before the first `model.fit` (TensorFlow).

    Keras creates them while TensorFlow traces the training step, and a trace that creates variables
    is traced again: building them first saves that second trace (about half of the first epoch of
    a side-by-side model). Nothing else changes: the variables start at zero either way.
    """
    build = getattr(model, "_symbolic_build", None)  # Keras's own pre-build; private, so guarded
    if keras.backend.backend() != "tensorflow" or build is None or model.optimizer.built:
        return
    first = keras.tree.map_structure(lambda a: a[:2], (x, y))
    build(data_batch=(*first, None))


def history_frame(history, log):
    """A Keras History as fit's DataFrame: cross-entropy as loss, penalized loss as objective."""
    frame = pd.DataFrame(history.history)
    if "cross_entropy" in frame:
        frame = frame.rename(
            columns={
                "loss": "objective",
                "val_loss": "val_objective",
                "cross_entropy": "loss",
                "val_cross_entropy": "val_loss",
            }
        )
    frame.insert(0, "epoch", range(1, len(frame) + 1))
    frame["seconds"] = log.seconds
    return frame


def fit_side_by_side(
    model,
    data,
    *,
    epochs,
    batch_size,
    label="side by side",
    log_every=None,
    callbacks=(),
    y_train=None,
    orders=None,
    clean=None,
):
    """Train a models.side_by_side model; returns {net name: history}, each as `fit` returns it.

    The nets see the same batches in the same order as separate runs with the same seed would.
    objective is NaN (Keras reports only the sum of all nets' penalized losses); seconds is the
    shared epoch time.
    y_train: {net name: training labels} for nets that learn other labels (on the same images).
    orders: one order of the training examples per model input (see repeat_orders); the nets on
    input i train on data.x_train[orders[i]]. clean: (x, true labels) evaluated each epoch in
    inference mode (columns eval_loss, eval_accuracy).
    """
    names = model.output_names
    single = len(names) == 1  # Keras names a one-output model's metrics without the output's name
    x_train, y_train, y_val = fit_arrays(model, data, y_train, orders)
    log = EpochLog(label, epochs, log_every)
    validation = Validation(data.x_val, y_val, clean)
    build_before_fit(model, x_train, y_train)
    history = model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[validation, log, *tensorboard_callbacks(label), *callbacks],
    )
    return {name: net_history(history.history, name, single, log.seconds) for name in names}


def fit_arrays(model, data, y_train, orders):
    """(x_train, y_train, y_val) as model.fit takes them for a side_by_side model."""
    names = model.output_names
    targets = net_targets(names, y_train, data.y_train)
    x_train, targets = ordered(model, data.x_train, targets, orders)
    if len(names) == 1:
        return x_train, targets[0], data.y_val
    return x_train, targets, [data.y_val] * len(names)


def ordered(model, x, targets, orders):
    """(inputs, targets) of a side_by_side model whose input i sees the examples in orders[i]."""
    n_inputs = len(model.inputs)
    if orders is None:
        return (x if n_inputs == 1 else [x] * n_inputs), targets
    if len(orders) != n_inputs:
        raise ValueError(
            f"orders must give one order per model input ({n_inputs}), got {len(orders)}"
        )
    inputs_of = getattr(model, "inputs_of", (0,) * len(targets))
    xs = [x[order] for order in orders]
    targets = [np.asarray(t)[orders[i]] for t, i in zip(targets, inputs_of)]
    return (xs[0] if n_inputs == 1 else xs), targets


@contextlib.contextmanager
def data_parallel(batch_size, n_examples):
    """Models built and fitted inside train on several devices, when JAX sees several (GPUs, or
    CPU devices from XLA_FLAGS): keras.distribution.DataParallel, weights copied on each device and
    every batch split between them. As many devices as split each batch evenly; elsewhere (one
    device, TensorFlow) nothing changes. Yields the number of devices used."""
    k = parallel_devices(batch_size, n_examples)
    if k < 2:
        yield 1
        return
    import jax

    print(f"data parallel over {k} devices ({batch_size // k} examples of each batch on each)")
    with keras.distribution.DataParallel(devices=jax.devices()[:k]).scope():
        yield k


def parallel_devices(batch_size, n_examples, available=None):
    """The most devices, of `available` (default: those JAX sees; 1 on another backend), that split
    both a full batch and an epoch's last, partial one evenly."""
    if available is None:
        if keras.backend.backend() != "jax":
            return 1
        import jax

        available = len(jax.devices())
    last = n_examples % batch_size or batch_size
    return max(k for k in range(1, available + 1) if batch_size % k == 0 and last % k == 0)


def repeat_seed(seed, repeat):
    """The seed of repeat `repeat` (0, 1, ...) of a run seeded `seed` (initial weights, noise)."""
    return (int(seed) + 1000 * int(repeat)) % 2**31


def repeat_orders(n, repeats, seed):
    """One order of n training examples per repeat: repeat 0 the data's own, the others seeded
    permutations, so that repeats differ in data order as well as in initial weights."""
    rng = np.random.default_rng([int(seed), 7])
    return [np.arange(n)] + [rng.permutation(n) for _ in range(int(repeats) - 1)]


def train_repeats(
    build,
    configs,
    data,
    *,
    repeats,
    seed,
    epochs,
    batch_size,
    lr=1e-3,
    optimizer="adam",
    soft_targets=False,
    clean=None,
    label=None,
    return_nets=False,
):
    """Train every configuration `repeats` times, all side by side in one model.

    build(seed, name, **options) makes one logits net; configs: {name: options}. Repeat r uses
    repeat_seed(seed, r) and its own data order, shared by every configuration (paired
    comparisons). Returns {name: [history of repeat 0, 1, ...]} (see fit_side_by_side), and with
    return_nets also {name: [trained net of repeat 0, 1, ...]}.
    """
    if not configs:
        return ({}, {}) if return_nets else {}
    keys, nets = repeated_nets(build, configs, repeats, seed)
    model = models.side_by_side(nets, inputs_of=[r for _, r in keys])
    compile_classifier(model, lr, soft_targets=soft_targets, optimizer=optimizer)
    n_runs = f"{plural(len(configs), 'configuration')} x {plural(repeats, 'seed')}"
    histories = fit_side_by_side(
        model,
        data,
        epochs=epochs,
        batch_size=batch_size,
        label=label or n_runs,
        orders=repeat_orders(len(data.x_train), repeats, seed),
        clean=clean,
    )
    found = grouped(keys, [histories[net.name] for net in nets])
    return (found, grouped(keys, nets)) if return_nets else found


def repeated_nets(build, configs, repeats, seed):
    """([(name, repeat), ...], [net, ...]): every configuration built once per repeat seed."""
    set_seed(seed)
    keys = [(name, r) for r in range(repeats) for name in configs]
    nets = [
        build(repeat_seed(seed, r), f"net_{i}", **configs[name]) for i, (name, r) in enumerate(keys)
    ]
    return keys, nets


def grouped(keys, items):
    """{name: [item of repeat 0, 1, ...]} from (name, repeat) keys and their items, in order."""
    found = {}
    for (name, _), item in zip(keys, items):
        found.setdefault(name, []).append(item)
    return found


def net_targets(names, y_train, default):
    """The training labels of each net, in output order: y_train[name] if given, else `default`."""
    y_train = y_train or {}
    unknown = sorted(set(y_train) - set(names))
    if unknown:
        raise ValueError(
            f"y_train names nets {unknown} that the model does not have; its nets are {names}"
        )
    return [y_train.get(name, default) for name in names]


HISTORY_COLUMNS = [
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "objective",
    "val_objective",
    "seconds",
]


def net_history(logged, name, single, seconds):
    """Net `name`'s history, as `fit` returns it, from the metrics a side-by-side fit logged."""
    key = "" if single else f"{name}_"
    frame = pd.DataFrame({"epoch": range(1, len(seconds) + 1)})
    for prefix in ("", "val_"):
        frame[f"{prefix}loss"] = logged[f"{prefix}{key}cross_entropy"]
        frame[f"{prefix}accuracy"] = logged[f"{prefix}{key}accuracy"]
        frame[f"{prefix}objective"] = np.nan
    frame["seconds"] = seconds
    clean = [f"eval_{key}loss", f"eval_{key}accuracy"]
    if all(k in logged for k in clean):
        frame["eval_loss"], frame["eval_accuracy"] = logged[clean[0]], logged[clean[1]]
        return frame[HISTORY_COLUMNS + ["eval_loss", "eval_accuracy"]]
    return frame[HISTORY_COLUMNS]


def final_metrics(history):
    """The last epoch of a history as a table row: losses, accuracies, gap, epochs, seconds.

    gap = validation loss - training loss (generalization gap; negative when training is harder).
    With an eval_loss column (fit_side_by_side's `clean`), the training loss and accuracy are those
    in inference mode on clean examples and true labels; Keras's running ones (with dropout, noise,
    augmentation, noisy targets) are kept as running_loss and running_gap.
    A run that diverged (loss NaN) gets NaN losses and best_val_epoch None.
    """
    last = history.iloc[-1]
    finite = history.val_loss[np.isfinite(history.val_loss)]
    clean = "eval_loss" in history
    train_loss = float(last.eval_loss if clean else last.loss)
    row = {
        "train_loss": train_loss,
        "train_accuracy": float(last.eval_accuracy if clean else last.accuracy),
        "val_loss": float(last.val_loss),
        "val_accuracy": float(last.val_accuracy),
        "gap": float(last.val_loss - train_loss),
    }
    if clean:
        row.update(running_loss=float(last.loss), running_gap=float(last.val_loss - last.loss))
    return {
        **row,
        "best_val_epoch": int(finite.idxmin()) + 1 if len(finite) else None,
        "epochs": len(history),
        "seconds": round(float(history.seconds.sum()), 1),
    }


def predict_logits(model, x, batch_size=4096):
    """The model's outputs on x in inference mode (a list of arrays for a side_by_side model).

    Batch by batch with `predict_on_batch`: the same numbers as `model.predict`, without the dataset
    it builds per call (~50 ms a call under TensorFlow on a 2-core CPU; evaluations in training
    loops make many calls).
    """
    x = np.asarray(x)
    if len(x) == 0:
        raise ValueError("x must hold at least one example, got 0")
    n_inputs = len(model.inputs)  # a side_by_side model of repeats: the same x to every input
    parts = [
        model.predict_on_batch(
            x[i : i + batch_size] if n_inputs == 1 else [x[i : i + batch_size]] * n_inputs
        )
        for i in range(0, len(x), batch_size)
    ]
    if isinstance(parts[0], (list, tuple)):
        return [np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(parts[0]))]
    return np.concatenate([np.asarray(p) for p in parts])


def evaluate(model, x, y, batch_size=4096):
    """Cross-entropy loss (no weight penalty) and accuracy of a model on (x, y); NaN if empty.

    y: integer labels, or target rows (one-hot or soft). See logit_metrics.
    """
    if len(x) == 0:
        return {"loss": float("nan"), "accuracy": float("nan")}
    return logit_metrics(y, predict_logits(model, x, batch_size))


def logit_metrics(labels, logits):
    """{"loss": mean cross-entropy (see cross_entropy), "accuracy": share of argmax(logits) == y}.

    labels: integer labels (N,), or target rows (N, classes) whose argmax is the label for accuracy.
    """
    logits, labels = np.asarray(logits), np.asarray(labels)
    hard = labels.argmax(axis=1) if labels.ndim == 2 else labels
    return {
        "loss": cross_entropy(labels, logits),
        "accuracy": float((logits.argmax(axis=1) == hard).mean()),
    }


def cross_entropy(labels, logits):
    """Mean cross-entropy (nats) under softmax(logits), numpy float64, stable (log-sum-exp).

    labels: integer labels (N,), or target rows (N, classes) for -sum(t log p) per example.
    """
    z = np.asarray(logits, dtype="float64")
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return float(-(labels.astype("float64") * log_p).sum(axis=1).mean())
    return float(-log_p[np.arange(len(z)), labels].mean())


class Plateau:
    """The early-stopping rule: stop once `patience` consecutive values each improved on the best so
    far by less than `min_delta` (the first value always counts as an improvement)."""

    def __init__(self, min_delta=1e-5, patience=100):
        if min_delta < 0 or patience < 1:
            raise ValueError(
                "need min_delta >= 0 and patience >= 1, "
                f"got min_delta={min_delta!r}, patience={patience!r}"
            )
        self.min_delta, self.patience = min_delta, patience
        self.best, self.wait = float("inf"), 0

    def update(self, value):
        """Take the next value; True when the rule says stop."""
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
        else:
            self.wait += 1
        return self.wait >= self.patience


class EarlyStopping(keras.callbacks.Callback):
    """Stops `fit` when the validation cross-entropy, checked every `check_every` training steps,
    plateaus (see Plateau). Keras calls back once per `steps_per_execution` batches: make
    check_every a multiple of it.

    After fit: `checks` is a DataFrame (step, val_loss), `stopped_step` the step it stopped at
    (None if it did not).
    """

    def __init__(self, x_val, y_val, min_delta=1e-5, patience=100, check_every=32):
        super().__init__()
        self.x_val, self.y_val, self.check_every = x_val, y_val, int(check_every)
        self.rule = Plateau(min_delta, patience)
        self.rows, self.stopped_step, self.step = [], None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = epoch * self.params["steps"]

    def on_train_batch_end(self, batch, logs=None):
        previous, self.step = self.step, self.epoch_start + batch + 1
        if self.step // self.check_every > previous // self.check_every:
            val_loss = cross_entropy(self.y_val, predict_logits(self.model, self.x_val))
            self.rows.append({"step": self.step, "val_loss": val_loss})
            if self.rule.update(val_loss):
                self.stopped_step = self.step
                self.model.stop_training = True

    @property
    def checks(self):
        return pd.DataFrame(self.rows, columns=["step", "val_loss"])


class EvaluateAtEpochs(keras.callbacks.Callback):
    """Cross-entropy and accuracy on (x, y) at the end of the given epochs (1-based):
    `results[epoch]` (for a side_by_side model, `results[epoch][net name]`).

    Same seed, same batches: the first E epochs of a longer run are an E-epoch run, so one long run
    gives the test metrics of every shorter one.
    """

    def __init__(self, x, y, epochs):
        super().__init__()
        self.x, self.y, self.epochs = x, np.asarray(y), set(int(e) for e in epochs)
        self.results = {}

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            outputs = predict_logits(self.model, self.x)
            if isinstance(outputs, (list, tuple)):  # side by side: {net name: metrics}
                self.results[epoch + 1] = {
                    name: self.metrics(o) for name, o in zip(self.model.output_names, outputs)
                }
            else:
                self.results[epoch + 1] = self.metrics(outputs)

    def metrics(self, logits):
        return logit_metrics(self.y, logits)


# ------------------------------------------------ early stopping side by side (notebook 05)


class EarlyStoppingEach(keras.callbacks.Callback):
    """EarlyStopping for every net of a models.side_by_side model: each net has its own
    rule (Plateau) on its own validation cross-entropy, checked every `check_every` steps.

    A net whose rule fires gets back the weights it had then when fit ends (the others go on
    training); fit stops once every rule fired. After fit: `checks` {net name: DataFrame(step,
    val_loss)}, `stopped_step` {net name: step, or None}, `step` (steps taken).
    """

    def __init__(self, nets, x_val, y_val, min_delta=1e-5, patience=100, check_every=32):
        super().__init__()
        self.nets, self.x_val, self.y_val = list(nets), x_val, y_val
        self.check_every, self.step, self.saved = int(check_every), 0, {}
        self.rules = {n.name: Plateau(min_delta, patience) for n in self.nets}
        self.rows = {n.name: [] for n in self.nets}
        self.stopped_step = {n.name: None for n in self.nets}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = epoch * self.params["steps"]

    def on_train_batch_end(self, batch, logs=None):
        previous, self.step = self.step, self.epoch_start + batch + 1
        if self.step // self.check_every == previous // self.check_every:
            return
        outputs = predict_logits(self.model, self.x_val)
        for net, logits in zip(self.nets, outputs):
            if self.stopped_step[net.name] is None:
                val_loss = cross_entropy(self.y_val, logits)
                self.rows[net.name].append({"step": self.step, "val_loss": val_loss})
                if self.rules[net.name].update(val_loss):
                    self.stopped_step[net.name], self.saved[net.name] = self.step, net.get_weights()
        self.model.stop_training = all(s is not None for s in self.stopped_step.values())

    def on_train_end(self, logs=None):
        for net in self.nets:
            if net.name in self.saved:
                net.set_weights(self.saved[net.name])

    @property
    def checks(self):
        return {
            name: pd.DataFrame(rows, columns=["step", "val_loss"])
            for name, rows in self.rows.items()
        }
