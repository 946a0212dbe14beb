"""Low-level TensorFlow: softmax networks written with tf.Variable, tf.matmul and tf.GradientTape.

No Keras layers, optimizers or losses: forward pass, softmax, cross-entropy, accuracy, penalties and
mini-batch gradient descent are each a few lines below. Notebook 04 shows them; tests check them.
"""

import time

import numpy as np
import pandas as pd

try:
    import tensorflow as tf
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "labs_lib.lowlevel needs TensorFlow, which is not installed: notebook 04 uses TensorFlow's "
        "low-level API directly. Install it with `pip install tensorflow-cpu` (CPU machines)."
    ) from exc

# One traced training loop per run: retracing warnings are expected.
tf.get_logger().setLevel("ERROR")

PENALTIES = ("l1", "l2")


def naive_softmax(logits):
    """exp(z) / sum exp(z), as the formula reads: inf/NaN once a logit passes ~88 (float32)."""
    e = tf.exp(logits)
    return e / tf.reduce_sum(e, axis=-1, keepdims=True)


def stable_softmax(logits):
    """Softmax after subtracting each row's maximum: the same value, and every exp is at most 1."""
    e = tf.exp(logits - tf.reduce_max(logits, axis=-1, keepdims=True))
    return e / tf.reduce_sum(e, axis=-1, keepdims=True)


def log_softmax(logits):
    """log softmax(z) = z - logsumexp(z), with logsumexp(z) = m + log sum exp(z - m), m = max(z)."""
    shifted = logits - tf.reduce_max(logits, axis=-1, keepdims=True)
    return shifted - tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=-1, keepdims=True))


def cross_entropy(labels, logits):
    """Mean of -log softmax(z)[y] over the batch (nats); labels are integer classes."""
    picked = tf.gather(log_softmax(logits), tf.cast(labels, tf.int32), axis=1, batch_dims=1)
    return -tf.reduce_mean(picked)


def accuracy(labels, logits):
    """Fraction of rows whose largest logit is the label."""
    hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32))
    return tf.reduce_mean(tf.cast(hits, tf.float32))


def init_params(sizes, seed=0):
    """[(W, b), ...] tf.Variables for layer sizes [n_in, hidden..., n_out]: He-normal W, zero b.

    With no hidden layer (softmax regression) W starts at zero: the loss is convex, with no
    symmetry to break.
    """
    params = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if len(sizes) == 2:
            w = tf.zeros((n_in, n_out))
        else:
            w = tf.random.stateless_normal(
                (n_in, n_out), seed=(seed, i), stddev=np.sqrt(2.0 / n_in)
            )
        params.append(
            (tf.Variable(w, name=f"W{i + 1}"), tf.Variable(tf.zeros(n_out), name=f"b{i + 1}"))
        )
    return params


def forward(params, x):
    """Logits: ReLU(x W + b) for every hidden layer, then x W + b for the output layer."""
    for w, b in params[:-1]:
        x = tf.nn.relu(tf.matmul(x, w) + b)
    w, b = params[-1]
    return tf.matmul(x, w) + b


def penalty(params, kind=None, strength=0.0):
    """strength * sum(W^2) (l2) or strength * sum|W| (l1) over the weight matrices, not biases."""
    if kind is None or strength == 0:
        return tf.constant(0.0)
    if kind not in PENALTIES:
        raise ValueError(f"penalty must be one of {{l1, l2}} or None, got {kind!r}")
    term = tf.square if kind == "l2" else tf.abs
    return strength * tf.add_n([tf.reduce_sum(term(w)) for w, _ in params])


def softmax_regression_gradients(w, b, x, labels):
    """Hand-derived gradients of the mean cross-entropy of softmax(x W + b) with respect to W, b.

    dW = X^T (P - Y) / N and db = mean(P - Y) over the batch (P: probabilities, Y: one-hot labels).
    """
    delta = stable_softmax(tf.matmul(x, w) + b) - tf.one_hot(labels, w.shape[1])
    n = tf.cast(tf.shape(x)[0], tf.float32)
    return tf.matmul(x, delta, transpose_a=True) / n, tf.reduce_mean(delta, axis=0)


def sgd_steps(params, lr, kind=None, strength=0.0):
    """A compiled run(x, y, batches): a gradient-descent step per row of (steps, batch) indices."""
    variables = [v for pair in params for v in pair]

    @tf.function
    def run(x, y, batches):
        for i in tf.range(tf.shape(batches)[0]):
            xb, yb = tf.gather(x, batches[i]), tf.gather(y, batches[i])
            with tf.GradientTape() as tape:
                objective = cross_entropy(yb, forward(params, xb)) + penalty(params, kind, strength)
            for v, g in zip(variables, tape.gradient(objective, variables)):
                v.assign_sub(lr * g)

    return run


def evaluate(params, x, y, kind=None, strength=0.0):
    """{loss (cross-entropy), accuracy, objective (loss + penalty)} on (x, y) as floats."""
    logits = forward(params, x)
    loss = float(cross_entropy(y, logits))
    return {
        "loss": loss,
        "accuracy": float(accuracy(y, logits)),
        "objective": loss + float(penalty(params, kind, strength)),
    }


def batch_indices(n, batch_size, epochs, seed=0):
    """(steps, batch_size) int32 indices: a seeded permutation per epoch, partial batch dropped."""
    rng = np.random.default_rng(seed)
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch_size must be at most the {n} training examples, got {batch_size}")
    return np.concatenate(
        [
            rng.permutation(n)[: per_epoch * batch_size].reshape(per_epoch, batch_size)
            for _ in range(epochs)
        ]
    ).astype("int32")


def train(
    params,
    data,
    *,
    epochs,
    batch_size,
    lr,
    kind=None,
    strength=0.0,
    eval_every=100,
    n_eval=10000,
    seed=0,
    label="model",
):
    """Mini-batch gradient descent on data.x_train; returns metrics every `eval_every` steps.

    Rows: step, epoch (fractional), loss/accuracy on the first `n_eval` training examples, val_loss,
    val_accuracy, objective (train loss + penalty), seconds since the start. Inputs are flattened.
    """
    x, y = flat(data.x_train), tf.constant(data.y_train, tf.int32)
    x_eval, y_eval = x[:n_eval], y[:n_eval]
    x_val, y_val = flat(data.x_val), tf.constant(data.y_val, tf.int32)
    batches = batch_indices(len(data.x_train), batch_size, epochs, seed)
    steps_per_epoch = len(batches) // epochs
    run = sgd_steps(params, lr, kind, strength)
    rows, start = [], time.perf_counter()

    def record(step):
        train_m = evaluate(params, x_eval, y_eval, kind, strength)
        val_m = evaluate(params, x_val, y_val)
        rows.append(progress_row(step, steps_per_epoch, train_m, val_m, start))

    record(0)
    for first in range(0, len(batches), eval_every):
        chunk = batches[first : first + eval_every]
        run(x, y, tf.constant(chunk))
        record(first + len(chunk))
        print_progress(label, rows, len(batches), eval_every)
    return pd.DataFrame(rows)


def progress_row(step, steps_per_epoch, train_metrics, val_metrics, start):
    """One row of train's DataFrame; `start` is the perf_counter time training started."""
    return {
        "step": step,
        "epoch": step / steps_per_epoch,
        **train_metrics,
        "val_loss": val_metrics["loss"],
        "val_accuracy": val_metrics["accuracy"],
        "seconds": time.perf_counter() - start,
    }


def print_progress(label, rows, n_steps, eval_every):
    """Print the newest row about four times a run, and at the last step."""
    last = rows[-1]
    if len(rows) % max(1, (n_steps // eval_every) // 4) == 0 or last["step"] == n_steps:
        print(
            f"{label}: step {last['step']}/{n_steps}  loss {last['loss']:.4f}  "
            f"accuracy {last['accuracy']:.4f}  val_loss {last['val_loss']:.4f}  "
            f"val_accuracy {last['val_accuracy']:.4f}  ({last['seconds']:.1f} s)",
            flush=True,
        )


def flat(images):
    """(N, ...) images as an (N, features) float32 tensor."""
    return tf.constant(np.asarray(images, dtype="float32").reshape(len(images), -1))
