"""Compiled full-batch training: many steps per call, for the long runs of notebooks 06 and 07.

`model.fit` pays one Python round trip per epoch (~40 ms under TensorFlow, ~1.5 ms under JAX on a
CPU); 25 000 full-batch epochs that way cost minutes of overhead per model. Here a chunk of steps is
one compiled call: `jax.lax.scan` under JAX, a `tf.function` loop under TensorFlow. Each step
records the loss and the gradient norm *before* its update (epoch e's row: after e - 1 updates).
"""

import time

import keras
import numpy as np
import pandas as pd

OBJECTIVES = ("loss", "grad_norm")


class Converged:
    """The convergence rule of the function-fitting runs: the loss stayed within a band of relative
    width `tol` for the last `window` epochs, i.e. max - min <= tol * min over those epochs.
    (Comparing only two epochs `window` apart would fire on an oscillating loss that happens to come
    back to the same value.)"""

    def __init__(self, window=500, tol=1e-3):
        if window < 2 or tol <= 0:
            raise ValueError(f"need window >= 2 and tol > 0, got window={window!r}, tol={tol!r}")
        self.window, self.tol = int(window), float(tol)

    def first_epoch(self, losses):
        """The first epoch (1-based) at which the rule holds for the losses so far, or None."""
        losses = np.asarray(losses, dtype="float64")
        if len(losses) < self.window:
            return None
        windows = np.lib.stride_tricks.sliding_window_view(losses, self.window)
        low = windows.min(axis=1)
        hits = np.flatnonzero(windows.max(axis=1) - low <= self.tol * np.abs(low))
        return int(hits[0]) + self.window if len(hits) else None


def trainer(model, optimizer, x, y, loss="mse", objective="loss"):
    """A function run(n): n full-batch steps on (x, y) in one compiled call -> (losses, grad_norms).

    objective "loss" descends the loss; "grad_norm" descends the squared gradient norm |dL/dw|^2 (to
    find a point where the gradient vanishes). Weight decay belongs to the optimizer (e.g.
    keras.optimizers.AdamW). The model's variables hold the weights after each call.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {{{', '.join(OBJECTIVES)}}}, got {objective!r}")
    loss_fn = scalar_loss(loss)
    optimizer.build(model.trainable_variables)
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_trainer(model, optimizer, loss_fn, x, y, objective)
    if backend == "tensorflow":
        return _tf_trainer(model, optimizer, loss_fn, x, y, objective)
    raise NotImplementedError(
        f"compiled loops exist for the tensorflow and jax backends, got {backend!r}"
    )


def scalar_loss(loss):
    """A Keras loss (name, function or Loss object) as f(y, prediction) -> mean over the batch.

    For a models.side_by_side model (a list of predictions) it is the sum of every net's loss: each
    net then gets exactly its own gradient, and the squared gradient norm is the sum of theirs.
    """
    fn = keras.losses.get(loss)
    mean = (
        fn
        if isinstance(fn, keras.losses.Loss)
        else (lambda y, prediction: keras.ops.mean(fn(y, prediction)))
    )

    def total(y, prediction):
        if isinstance(prediction, (list, tuple)):
            return sum(mean(y, p) for p in prediction)
        return mean(y, prediction)

    return total


def _tf_trainer(model, optimizer, loss_fn, x, y, objective):
    import tensorflow as tf

    x, y = tf.constant(x, dtype=model.inputs[0].dtype), tf.constant(y, dtype=model.inputs[0].dtype)
    variables = model.trainable_variables

    @tf.function
    def run(n):
        losses, norms = tf.TensorArray(x.dtype, size=n), tf.TensorArray(x.dtype, size=n)
        for i in tf.range(n):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as tape:
                    value = loss_fn(y, model(x, training=True))
                grads = tape.gradient(value, variables)
                squared = tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads])
            step = outer.gradient(squared, variables) if objective == "grad_norm" else grads
            optimizer.apply(step, variables)
            losses, norms = losses.write(i, value), norms.write(i, tf.sqrt(squared))
        return losses.stack(), norms.stack()

    def call(n):
        losses, norms = run(tf.constant(int(n)))
        return losses.numpy(), norms.numpy()

    return call


def _jax_trainer(model, optimizer, loss_fn, x, y, objective):
    import jax
    import jax.numpy as jnp

    x, y = jnp.asarray(x, dtype=model.inputs[0].dtype), jnp.asarray(y, dtype=model.inputs[0].dtype)

    def data_loss(trainable, non_trainable):
        prediction, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, prediction), non_trainable

    def squared_norm(trainable, non_trainable):
        grads, _ = jax.grad(data_loss, has_aux=True)(trainable, non_trainable)
        return sum(jnp.sum(jnp.square(g)) for g in grads)

    def step(state, _):
        trainable, non_trainable, opt_vars = state
        (value, new_non_trainable), grads = jax.value_and_grad(data_loss, has_aux=True)(
            trainable, non_trainable
        )
        norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in grads))
        if objective == "grad_norm":
            grads = jax.grad(squared_norm)(trainable, non_trainable)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return (trainable, new_non_trainable, opt_vars), (value, norm)

    scan = jax.jit(lambda state, n: jax.lax.scan(step, state, None, length=n), static_argnums=1)
    groups = (model.trainable_variables, model.non_trainable_variables, optimizer.variables)

    def call(n):
        state = tuple([v.value for v in group] for group in groups)
        state, (losses, norms) = scan(state, int(n))
        for group, values in zip(groups, state):
            for variable, value in zip(group, values):
                variable.assign(value)
        return np.asarray(losses), np.asarray(norms)

    return call


def fit_full_batch(
    model,
    optimizer,
    x,
    y,
    *,
    epochs,
    loss="mse",
    objective="loss",
    converged=None,
    chunk=1000,
    label="model",
):
    """Full-batch training for up to `epochs` steps, `chunk` steps per compiled call.

    converged: a Converged rule; training stops at the end of the chunk in which it first holds.
    Returns (history, converged_epoch): history has one row per epoch run (epoch, loss, grad_norm,
    seconds since the start, at chunk ends); converged_epoch is the first epoch at which the rule
    held (None if never).
    """
    run = trainer(model, optimizer, x, y, loss, objective)
    losses, norms, seconds, start, hit = [], [], [], time.perf_counter(), None
    while len(losses) < epochs:
        n = min(chunk, epochs - len(losses))
        chunk_losses, chunk_norms = run(n)
        losses.extend(chunk_losses), norms.extend(chunk_norms)
        seconds.extend([np.nan] * (n - 1) + [time.perf_counter() - start])
        hit = converged.first_epoch(losses) if converged else None
        if hit or len(losses) >= epochs or not np.isfinite(losses[-1]):
            break
    print_summary(label, losses, norms, hit, seconds[-1])
    epoch = np.arange(1, len(losses) + 1)
    history = pd.DataFrame({"epoch": epoch, "loss": losses, "grad_norm": norms, "seconds": seconds})
    return history, hit


def print_summary(label, losses, norms, hit, seconds):
    """fit_full_batch's last line: epochs run, final loss and gradient norm, convergence, time."""
    converged = f", converged at epoch {hit}" if hit else ""
    print(
        f"{label}: {len(losses)} epochs, loss {losses[-1]:.3g}, gradient norm {norms[-1]:.3g}"
        f"{converged} ({seconds:.1f} s)",
        flush=True,
    )


# ------------------------------------------------ each net's loss, side by side (notebook 06)


def fit_each(model, optimizer, x, y, *, epochs, loss="mse", chunk=1000, done=None, label="nets"):
    """Full-batch training of a models.side_by_side model, every net's loss recorded every epoch.

    Each step descends the sum of the nets' losses (each net gets its own gradient). done(losses)
    (epochs so far x nets) -> True stops at the end of a chunk. Returns (losses: epochs x nets,
    seconds of training).
    """
    run = _each_trainer(model, optimizer, np.asarray(x), np.asarray(y), keras.losses.get(loss))
    parts, start = [], time.perf_counter()
    while sum(len(p) for p in parts) < epochs:
        parts.append(run(min(chunk, epochs - sum(len(p) for p in parts))))
        losses = np.concatenate(parts)
        if (done and done(losses)) or not np.all(np.isfinite(losses[-1])):
            break
    seconds = time.perf_counter() - start
    print(f"{label}: {len(losses)} epochs, {losses.shape[1]} nets ({seconds:.1f} s)", flush=True)
    return losses, seconds


def _each_trainer(model, optimizer, x, y, fn):
    """run(n): n full-batch steps in one compiled call -> (n x nets) array of each net's loss."""
    optimizer.build(model.trainable_variables)

    def each(y_true, predictions):
        return keras.ops.stack([keras.ops.mean(fn(y_true, p)) for p in predictions])

    if keras.backend.backend() == "jax":
        return _each_jax(model, optimizer, x, y, each)
    import tensorflow as tf

    x, y, variables = tf.constant(x), tf.constant(y), model.trainable_variables

    @tf.function
    def run(n):
        out = tf.TensorArray(x.dtype, size=n)
        for i in tf.range(n):
            with tf.GradientTape() as tape:
                values = each(y, model(x, training=True))
                total = tf.reduce_sum(values)
            optimizer.apply(tape.gradient(total, variables), variables)
            out = out.write(i, values)
        return out.stack()

    return lambda n: run(tf.constant(int(n))).numpy()


def _each_jax(model, optimizer, x, y, each):
    """_each_trainer under JAX: a lax.scan over the steps."""
    import jax

    def total(trainable, non_trainable):
        outputs, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        values = each(y, outputs)
        return values.sum(), (values, non_trainable)

    def step(state, _):
        trainable, non_trainable, opt_vars = state
        (_, (values, non_trainable)), grads = jax.value_and_grad(total, has_aux=True)(
            trainable, non_trainable
        )
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return (trainable, non_trainable, opt_vars), values

    scan = jax.jit(lambda state, n: jax.lax.scan(step, state, None, length=n), static_argnums=1)
    groups = (model.trainable_variables, model.non_trainable_variables, optimizer.variables)

    def call(n):
        state = tuple([v.value for v in group] for group in groups)
        state, values = scan(state, int(n))
        for group, new in zip(groups, state):
            for variable, value in zip(group, new):
                variable.assign(value)
        return np.asarray(values)

    return call
