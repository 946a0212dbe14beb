"""Low-level TensorFlow: softmax networks written with tf.Variable, tf.matmul and tf.GradientTape.

No Keras layers, optimizers or losses: forward pass, softmax, cross-entropy, accuracy, penalties and
mini-batch gradient descent are each a few lines below. Notebook 04 shows them; tests check them.

Every function also takes replicas: weights stacked on a leading axis (init_replicas), so that
several seeds and penalties of one architecture train side by side in one compiled step.
"""

import time

import numpy as np
import pandas as pd

from labs_lib.reporting import plural

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
    """Mean of -log softmax(z)[y] over the batch (nats); labels are integer classes.

    Logits (replicas, batch, classes) give one mean per replica.
    """
    labels = tf.broadcast_to(tf.cast(labels, tf.int32), tf.shape(logits)[:-1])
    picked = tf.gather(log_softmax(logits), labels, axis=-1, batch_dims=len(logits.shape) - 1)
    return -tf.reduce_mean(picked, axis=-1)


def accuracy(labels, logits):
    """Fraction of rows whose largest logit is the label (one per replica for stacked logits)."""
    hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32))
    return tf.reduce_mean(tf.cast(hits, tf.float32), axis=-1)


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


def init_replicas(sizes, seeds):
    """init_params(sizes, s) for each s in seeds, stacked: W (replicas, n_in, n_out) and b
    (replicas, 1, n_out), so that forward maps (replicas, batch, n_in) inputs replica by replica."""
    nets = [init_params(sizes, s) for s in seeds]
    return [
        (
            tf.Variable(tf.stack([net[i][0] for net in nets]), name=f"W{i + 1}"),
            tf.Variable(tf.stack([net[i][1] for net in nets])[:, None, :], name=f"b{i + 1}"),
        )
        for i in range(len(sizes) - 1)
    ]


def replica_seeds(seed, repeats):
    """The seeds of repeats 0, 1, ... of a run seeded `seed` (as training.repeat_seed)."""
    return [(int(seed) + 1000 * r) % 2**31 for r in range(int(repeats))]


def forward(params, x):
    """Logits: ReLU(x W + b) for every hidden layer, then x W + b for the output layer."""
    for w, b in params[:-1]:
        x = tf.nn.relu(tf.matmul(x, w) + b)
    w, b = params[-1]
    return tf.matmul(x, w) + b


def penalty(params, kind=None, strength=0.0):
    """strength * sum(W^2) (l2) or strength * sum|W| (l1) over the weight matrices, not biases.

    For replicas, strength may hold one value per replica (one penalty each).
    """
    if kind is None:
        return tf.constant(0.0)
    if kind not in PENALTIES:
        raise ValueError(f"penalty must be one of {{l1, l2}} or None, got {kind!r}")
    term = tf.square if kind == "l2" else tf.abs
    return strength * tf.add_n([tf.reduce_sum(term(w), axis=[-2, -1]) for w, _ in params])


def softmax_regression_gradients(w, b, x, labels):
    """Hand-derived gradients of the mean cross-entropy of softmax(x W + b) with respect to W, b.

    dW = X^T (P - Y) / N and db = mean(P - Y) over the batch (P: probabilities, Y: one-hot labels).
    """
    delta = stable_softmax(tf.matmul(x, w) + b) - tf.one_hot(labels, w.shape[1])
    n = tf.cast(tf.shape(x)[0], tf.float32)
    return tf.matmul(x, delta, transpose_a=True) / n, tf.reduce_mean(delta, axis=0)


def per_replica(value):
    """A scalar as is; one value per replica as a (replicas, 1, 1) tensor (broadcasts over W, b)."""
    if np.ndim(value) == 0:
        return float(value)
    return tf.reshape(tf.constant(value, tf.float32), (-1, 1, 1))


def sgd_steps(params, lr, l1=0.0, l2=0.0):
    """A compiled run(x, y, batches): a gradient-descent step per row of batch indices.

    batches: (steps, batch) for one network, (steps, replicas, batch) for replicas (each its own
    batch). lr, l1 and l2 (penalty strengths): one value, or one per replica.
    """
    variables = [v for pair in params for v in pair]
    rate, l1, l2 = per_replica(lr), np.asarray(l1, "float32"), np.asarray(l2, "float32")

    @tf.function
    def run(x, y, batches):
        for i in tf.range(tf.shape(batches)[0]):
            xb, yb = tf.gather(x, batches[i]), tf.gather(y, batches[i])
            with tf.GradientTape() as tape:
                objective = cross_entropy(yb, forward(params, xb))
                if np.any(l1):
                    objective += penalty(params, "l1", l1)
                if np.any(l2):
                    objective += penalty(params, "l2", l2)
                objective = tf.reduce_sum(objective)  # replicas are independent: sum their losses
            for v, g in zip(variables, tape.gradient(objective, variables)):
                v.assign_sub(rate * g)

    return run


def evaluate(params, x, y, kind=None, strength=0.0, chunk=2000):
    """{loss (cross-entropy), accuracy, objective (loss + penalty)} on (x, y), `chunk` examples at a
    time: floats for one network, arrays (one value per replica) for replicas."""
    sums = [0.0, 0.0]
    for start in range(0, len(x), chunk):
        xc, yc = x[start : start + chunk], y[start : start + chunk]
        logits = forward(params, xc)
        n = len(xc)
        sums[0] += cross_entropy(yc, logits).numpy() * n
        sums[1] += accuracy(yc, logits).numpy() * n
    loss, acc = sums[0] / len(x), sums[1] / len(x)
    objective = loss + penalty(params, kind, strength).numpy()
    if np.ndim(loss) == 0:
        return {"loss": float(loss), "accuracy": float(acc), "objective": float(objective)}
    return {"loss": loss, "accuracy": acc, "objective": objective}


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
    batches = batch_indices(len(data.x_train), batch_size, epochs, seed)
    l1, l2 = (strength if kind == k else 0.0 for k in PENALTIES)
    (curve,) = fit(
        params, data, batches, epochs, lr, l1, l2, eval_every=eval_every, n_eval=n_eval, label=label
    )
    return curve


def train_replicas(sizes, data, configs, *, seeds, epochs, batch_size, label="", **options):
    """Train every configuration of one architecture once per seed, all side by side.

    sizes: layer sizes [n_in, hidden..., n_out]; configs: {name: {"lr", "kind" (None, "l1" or
    "l2"), "strength"}}; seeds: one per repeat (replica_seeds). Seed s gives the initial weights
    (init_params(sizes, s)) and the batch order, shared by every configuration (paired
    comparisons). options: eval_every, n_eval and test_evals of fit.
    Returns ({name: [curve per seed]}, {name: [[W numpy arrays] per seed]}); curves as train's,
    with test_loss and test_accuracy (NaN where not measured) when test_evals > 0.
    """
    keys = [(name, s) for s in seeds for name in configs]
    params = init_replicas(sizes, [s for _, s in keys])
    orders = {s: batch_indices(len(data.x_train), batch_size, epochs, s) for s in seeds}
    batches = np.stack([orders[s] for _, s in keys], axis=1)
    n_runs = f"{plural(len(configs), 'configuration')} x {plural(len(seeds), 'seed')}"
    label = f"{label}: {n_runs}" if label else n_runs
    rates = replica_rates(configs, [name for name, _ in keys])
    curves = fit(params, data, batches, epochs, *rates, label=label, **options)
    stacked = [w.numpy() for w, _ in params]
    found, weights = {name: [] for name in configs}, {name: [] for name in configs}
    for r, ((name, _), curve) in enumerate(zip(keys, curves)):
        found[name].append(curve)
        weights[name].append([w[r] for w in stacked])
    return found, weights


def replica_rates(configs, names):
    """(lr, l1, l2): one value per replica (its configuration's name in `names`) each."""
    lr = np.array([configs[n]["lr"] for n in names], "float32")
    strength = np.array([configs[n].get("strength") or 0.0 for n in names], "float32")
    kinds = [configs[n].get("kind") for n in names]
    l1, l2 = (np.where([kind == k for kind in kinds], strength, 0.0) for k in PENALTIES)
    return lr, l1, l2


def fit(
    params, data, batches, epochs, lr, l1, l2, *, eval_every=100, n_eval=10000, test_evals=0, label
):
    """Run sgd_steps over `batches`, `eval_every` steps at a time; one curve per replica (a list of
    one for a single network). The last `test_evals` evaluation points also measure the test set.
    """
    x, y = flat(data.x_train), tf.constant(data.y_train, tf.int32)
    held_out = {"val": (flat(data.x_val), tf.constant(data.y_val, tf.int32))}
    if test_evals:
        held_out["test"] = (flat(data.x_test), tf.constant(data.y_test, tf.int32))
    steps_per_epoch = len(batches) // epochs
    n_points = 1 + -(-len(batches) // eval_every)
    run = sgd_steps(params, lr, l1, l2)
    rows, start = [], time.perf_counter()

    def record(step):
        row = {"step": step, "epoch": step / steps_per_epoch}
        row.update(evaluate(params, x[:n_eval], y[:n_eval]))
        row["objective"] = row["loss"] + penalties(params, l1, l2)
        for name, (xh, yh) in held_out.items():
            if name == "test" and len(rows) < n_points - test_evals:
                row.update(test_loss=np.nan, test_accuracy=np.nan)
                continue
            metrics = evaluate(params, xh, yh)
            row.update({f"{name}_loss": metrics["loss"], f"{name}_accuracy": metrics["accuracy"]})
        row["seconds"] = time.perf_counter() - start
        rows.append(row)

    record(0)
    for first in range(0, len(batches), eval_every):
        chunk = batches[first : first + eval_every]
        run(x, y, tf.constant(chunk))
        record(first + len(chunk))
        print_progress(label, rows, len(batches), eval_every)
    return split_replicas(rows)


def split_replicas(rows):
    """One DataFrame per replica from rows whose values are scalars or one value per replica."""
    n = max(1, int(np.size(rows[0]["loss"])))

    def pick(row, r):
        return {k: (v if np.ndim(v) == 0 else v[r]) for k, v in row.items()}

    return [pd.DataFrame([pick(row, r) for row in rows]) for r in range(n)]


def penalties(params, l1, l2):
    """The L1 plus the L2 term (one value, or one per replica) as numpy."""
    total = penalty(params, "l1", np.asarray(l1, "float32"))
    return (total + penalty(params, "l2", np.asarray(l2, "float32"))).numpy()


def final_metrics(curve, last=5):
    """A run's final metrics: the mean of its last `last` evaluation points (curves of gradient
    descent zig-zag from one point to the next), as a table row; steps is the last step."""
    tail = curve.tail(last)
    row = {"steps": int(curve.step.iloc[-1]), "train_loss": float(tail.loss.mean())}
    row["train_accuracy"] = float(tail.accuracy.mean())
    for column in ("val_loss", "val_accuracy", "test_loss", "test_accuracy", "objective"):
        if column in curve:
            row[column] = float(tail[column].mean())
    row["gap"] = row["val_loss"] - row["train_loss"]
    return row


def weight_stats(weights, threshold=1e-3):
    """How sparse a network's weight matrices (not biases) are: {"near_zero": share of entries with
    |w| < threshold, "near_zero_median": median |w| of those (NaN if none), "exact_zeros": how many
    entries are exactly 0.0, "weights": how many in all}."""
    magnitudes = np.abs(np.concatenate([np.ravel(w) for w in weights]))
    small = magnitudes[magnitudes < threshold]
    return {
        "near_zero": float(len(small) / magnitudes.size),
        "near_zero_median": float(np.median(small)) if len(small) else float("nan"),
        "exact_zeros": int(np.sum(magnitudes == 0.0)),
        "weights": int(magnitudes.size),
    }


def print_progress(label, rows, n_steps, eval_every):
    """Print the newest row (means over replicas) about four times a run, and at the last step."""
    last = {k: float(np.mean(v)) for k, v in rows[-1].items()}
    if len(rows) % max(1, (n_steps // eval_every) // 4) == 0 or last["step"] == n_steps:
        mean = " (means over runs)" if np.size(rows[-1]["loss"]) > 1 else ""
        print(
            f"{label}: step {last['step']:.0f}/{n_steps}  loss {last['loss']:.4f}  "
            f"accuracy {last['accuracy']:.4f}  val_loss {last['val_loss']:.4f}  "
            f"val_accuracy {last['val_accuracy']:.4f}  ({last['seconds']:.1f} s){mean}",
            flush=True,
        )


def flat(images):
    """(N, ...) images as an (N, features) float32 tensor."""
    return tf.constant(np.asarray(images, dtype="float32").reshape(len(images), -1))
