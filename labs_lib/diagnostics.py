"""Diagnostics: look inside a network (activations, weights, gradients), check gradients
numerically, record weight trajectories (and their PCA), and find and classify critical points
(gradient-norm descent, exact Hessian).

Gradients need the backend: TensorFlow (`tf.GradientTape`) and JAX (`jax.grad` over
`stateless_call`) are supported, in `_backend_gradients` (and its JAX helper) only; other backends
raise NotImplementedError.

Gradient checking needs float64: in float32, rounding swamps central differences (relative error
~0.5 with eps=1e-6, ~1e-4 at best with eps=1e-2). Build the model inside `float64_scope()`, or
convert one with `float64_copy(model)`. Under JAX, 64-bit floats also need `jax_enable_x64`: the
scope turns it on while building, and the functions here turn it on again whenever they compute with
a float64 model (nothing is switched on for the rest of the session).
"""

import contextlib
import weakref

import keras
import numpy as np
import pandas as pd

from labs_lib.loops import fit_full_batch
from labs_lib.models import dense_layers
from labs_lib.training import logit_metrics, predict_logits

MANUAL_BUGS = ("sign", "factor")


def hidden_activations(model, x):
    """Outputs of every hidden Dense layer on inputs x: {layer name: array}.

    That is after the layer's activation in a plain MLP; in a batch-norm MLP (models.mlp with
    batch_norm=True) the Dense layer has no activation, so it is the pre-normalization value. Runs
    the layers one by one, eagerly: no compiled function to trace for a one-off probe.
    """
    hidden = dense_layers(model)[:-1]
    outputs, h = {}, keras.ops.convert_to_tensor(x)
    for layer in model.layers:
        h = layer(h)
        if layer in hidden:
            outputs[layer.name] = keras.ops.convert_to_numpy(h)
    return outputs


def unit_spread(kernel):
    """How different a layer's units are: max over inputs of (max - min) across the units' weights.

    kernel: array (inputs, units). 0 means every unit has the same weights (a symmetric layer).
    """
    kernel = np.asarray(kernel)
    return float(np.max(np.ptp(kernel, axis=1)))


def weight_stats(model):
    """Mean and standard deviation of each Dense layer's kernel: a DataFrame, one row per layer."""
    rows = []
    for layer in dense_layers(model):
        kernel = np.asarray(layer.kernel)
        rows.append(
            {
                "layer": layer.name,
                "mean": float(kernel.mean()),
                "std": float(kernel.std()),
                "unit_spread": unit_spread(kernel),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------- losses and gradients


def cross_entropy(y, logits):
    """Sparse categorical cross-entropy from logits, the batch mean (the default loss here).

    A sum divided by N, not keras.ops.mean: under JAX, Keras 3.15 takes float64 means in float32.
    """
    per_example = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return keras.ops.sum(per_example) / per_example.shape[0]


def _objective(loss_fn, y, logits, extra_losses):
    """loss_fn(y, logits) plus the model's own losses (weight penalties), in the loss's dtype."""
    loss = (loss_fn or cross_entropy)(y, logits)
    for extra in extra_losses:
        loss = loss + keras.ops.cast(extra, loss.dtype)
    return loss


def loss_value(model, x, y, loss_fn=None, training=False):
    """The loss `gradients` differentiates, as a float: loss_fn(y, model(x)) plus model.losses."""
    _check_batch(x, y)
    with _x64(model):
        logits = model(x, training=training)
        return float(keras.ops.convert_to_numpy(_objective(loss_fn, y, logits, model.losses)))


def gradients(model, x, y, loss_fn=None, training=False):
    """Gradient of the loss on (x, y) for every trainable weight: {variable path: numpy array}.

    loss_fn(y, logits) -> scalar; default: mean sparse cross-entropy from logits. The model's own
    losses (weight penalties) are added. Inference mode (no dropout or noise) unless training=True;
    in training mode batch normalization uses the batch's statistics, and its moving averages are
    left as they were.
    """
    _check_batch(x, y)
    variables = model.trainable_variables
    state = (
        [keras.ops.convert_to_numpy(v.value) for v in model.non_trainable_variables]
        if training
        else []
    )
    with _x64(model):
        values = _backend_gradients(model, x, y, loss_fn, training)
        for v, saved in zip(model.non_trainable_variables, state):
            v.assign(saved)
    return {v.path: keras.ops.convert_to_numpy(g) for v, g in zip(variables, values)}


def _backend_gradients(model, x, y, loss_fn, training):
    """The backend-specific part of `gradients`: one gradient tensor per trainable variable."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            logits = model(x, training=training)
            loss = _objective(loss_fn, y, logits, model.losses)
        return tape.gradient(
            loss, model.trainable_variables, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
    if backend == "jax":
        gradient = _jax_gradient_function(model, loss_fn, training)
        return gradient(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            x,
            y,
        )
    raise NotImplementedError(
        f"gradients are implemented for the tensorflow and jax backends only, "
        f"got backend {backend!r} (set KERAS_BACKEND=tensorflow or jax)"
    )


# model -> {(loss_fn, training): compiled gradient}
_JAX_GRADIENT_FUNCTIONS = weakref.WeakKeyDictionary()


def _jax_gradient_function(model, loss_fn, training):
    """jax.jit(jax.grad(objective)) for this model, kept while the model lives.

    Compiled once per batch shape, it starts ~10x faster than eager jax.grad, which compiles every
    operation on its own.
    """
    import jax

    functions = _JAX_GRADIENT_FUNCTIONS.setdefault(model, {})
    if (loss_fn, training) not in functions:
        model_ref = weakref.ref(model)  # the cached function must not keep the model alive

        def objective(trainable, non_trainable, x, y):
            logits, _, losses = model_ref().stateless_call(
                trainable, non_trainable, x, training=training, return_losses=True
            )
            return _objective(loss_fn, y, logits, losses)

        functions[loss_fn, training] = jax.jit(jax.grad(objective))
    return functions[loss_fn, training]


def _check_batch(x, y):
    """ValueError unless x and y hold the same, non-zero number of examples."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"x and y must hold the same number of examples (at least 1), got {len(x)} and {len(y)}"
        )


def layer_gradient_norms(model, x, y, training=False, rms=False):
    """Per Dense layer: L2 norms of the kernel and bias gradients, and grad_norm / ||kernel||.

    One row per Dense layer, input to output; NaN for a missing bias or a frozen weight.
    training: compute the gradients in training mode (see `gradients`).
    rms: add grad_rms = grad_norm / sqrt(kernel entries), the root-mean-square gradient per weight,
    which compares layers of different sizes (a 3072x100 kernel's Frobenius norm sums 307 200
    entries, a 100x10 one's 1 000).
    """
    grads = gradients(model, x, y, training=training)
    rows = []
    for layer in dense_layers(model):
        grad_norm = _norm(grads[layer.kernel.path]) if layer.kernel.path in grads else float("nan")
        bias = (
            _norm(grads[layer.bias.path])
            if layer.bias is not None and layer.bias.path in grads
            else float("nan")
        )
        kernel_norm = _norm(keras.ops.convert_to_numpy(layer.kernel.value))
        rows.append(
            {
                "layer": layer.name,
                "grad_norm": grad_norm,
                "bias_grad_norm": bias,
                "relative_grad_norm": grad_norm / kernel_norm if kernel_norm else float("nan"),
            }
        )
        if rms:
            rows[-1]["grad_rms"] = grad_norm / np.sqrt(np.prod(layer.kernel.shape))
    return pd.DataFrame(rows)


def _norm(array):
    """L2 (Frobenius) norm of an array, computed in float64."""
    return float(np.linalg.norm(np.asarray(array, dtype=np.float64).ravel()))


# ------------------------------------------------------- recording during training


class GradientNormLog(keras.callbacks.Callback):
    """Records `layer_gradient_norms` (with grad_rms) on a fixed batch (x, y) at the start and after
    every epoch.

    training: measure the gradients training computes (batch statistics in batch normalization,
    dropout active); False measures them in inference mode.
    """

    def __init__(self, x, y, training=True):
        super().__init__()
        self.x, self.y, self.training = x, y, training
        self.rows = []

    def on_train_begin(self, logs=None):
        self.rows = []
        self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)

    def _record(self, epoch):
        frame = layer_gradient_norms(self.model, self.x, self.y, training=self.training, rms=True)
        self.rows += [{"epoch": epoch, **row} for row in frame.to_dict("records")]

    def frame(self):
        """Long table: epoch (0 = at initialization) and the columns of layer_gradient_norms."""
        return pd.DataFrame(self.rows)


class WeightLog(keras.callbacks.Callback):
    """Records `weight_stats` at the start and after every epoch, and the first hidden kernel.

    Each row also holds rms_change: the root-mean-square change of the layer's kernel entries since
    the start, sqrt(mean((W_t - W_0)^2)), computed in float64 (0 at the start).
    first_layer_start / first_layer_end: copies of the first Dense kernel before and after training.
    """

    def __init__(self):
        super().__init__()
        self.rows, self.start = [], {}
        self.first_layer_start = self.first_layer_end = None

    def on_train_begin(self, logs=None):
        self.rows, self.start = [], {}
        self.first_layer_start = self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self.first_layer_end = self._record(epoch + 1)

    def _record(self, epoch):
        kernels = [
            np.array(keras.ops.convert_to_numpy(layer.kernel.value))
            for layer in dense_layers(self.model)
        ]
        for row, kernel in zip(weight_stats(self.model).to_dict("records"), kernels):
            start = self.start.setdefault(row["layer"], kernel.astype(np.float64))
            change = float(np.sqrt(np.mean((kernel.astype(np.float64) - start) ** 2)))
            self.rows.append({"epoch": epoch, **row, "rms_change": change})
        return kernels[0]

    def frame(self):
        """Long table: epoch (0 = at initialization), layer, mean, std, unit_spread and rms_change
        per kernel."""
        return pd.DataFrame(self.rows)


# ------------------------------------------------------- weight trajectories and PCA


def flat_weights(model, layer=None):
    """The trainable weights of a model (or of one layer, by name) as one float64 vector."""
    variables = model.get_layer(layer).trainable_variables if layer else model.trainable_variables
    return np.concatenate(
        [
            np.asarray(keras.ops.convert_to_numpy(v.value), dtype=np.float64).ravel()
            for v in variables
        ]
    )


class WeightTrajectory(keras.callbacks.Callback):
    """Records the flattened weights at the start and every `every` epochs (and the last).

    After fit: `epochs` (0 = initial), `points` (records x weights), `layer_points` (the same for
    `layer`, if given) and `accuracy` (the logged val_accuracy, or accuracy).
    net: record this sub-model of a models.side_by_side model instead (its own accuracy is logged).
    """

    def __init__(self, every=3, layer=None, net=None):
        super().__init__()
        self.every, self.layer, self.net = int(every), layer, net
        self.epochs, self.points, self.layer_points, self.accuracy = [], [], [], []

    def on_train_begin(self, logs=None):
        self._record(0, float("nan"))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.params.get("epochs"):
            logs, prefix = logs or {}, f"{self.net.name}_" if self.net is not None else ""
            self._record(
                epoch + 1,
                logs.get(f"val_{prefix}accuracy", logs.get(f"{prefix}accuracy", float("nan"))),
            )

    def _record(self, epoch, accuracy):
        source = self.net if self.net is not None else self.model
        self.epochs.append(epoch)
        self.accuracy.append(float(accuracy))
        self.points.append(flat_weights(source))
        if self.layer:
            self.layer_points.append(flat_weights(source, self.layer))


def pca(points, n_components=2):
    """Rows of `points` projected on their first principal components (centred, via SVD).

    Returns (projection (rows x n_components), explained variance ratio of each component).
    """
    points = np.asarray(points, dtype=np.float64)
    centred = points - points.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    ratio = (
        variance[:n_components] / variance.sum() if variance.sum() > 0 else np.zeros(n_components)
    )
    return centred @ components[:n_components].T, ratio


# ------------------------------------------------------- the Hessian


def mean_squared_error(y, prediction):
    """Mean of (y - prediction)^2 over every entry, as a sum over the count (float64 under JAX)."""
    squared = keras.ops.square(keras.ops.convert_to_tensor(y, dtype=prediction.dtype) - prediction)
    return keras.ops.sum(squared) / np.prod(squared.shape)


def hessian(model, x, y, loss_fn=mean_squared_error):
    """Exact Hessian of loss_fn(y, model(x)) in every trainable weight: a (P, P) float64 array.

    Computed on a float64 copy of the model by differentiating the gradient once more (jax.hessian
    of the loss as a function of the flattened weights; TensorFlow: GradientTape.jacobian of the
    gradient). P weights cost P gradient evaluations: for small models (a few thousand weights at
    most).
    loss_fn must keep float64 (under JAX, keras.ops.mean computes in float32: divide a sum instead).
    """
    return hessian_function(model, x, y, loss_fn)(flat_weights(model))


def hessian_function(model, x, y, loss_fn=mean_squared_error):
    """A function: flat weight vector (as flat_weights gives) -> the Hessian of `hessian` at those
    weights, for this model's architecture and data. Build it once and call it for many weight
    vectors: under JAX it is compiled on the first call only."""
    _check_batch(x, y)
    model64 = float64_copy(model)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_hessian_function(model64, x, y, loss_fn)
    if backend == "tensorflow":
        return _tf_hessian_function(model64, x, y, loss_fn)
    raise NotImplementedError(
        f"hessian is implemented for the tensorflow and jax backends only, got {backend!r}"
    )


def _jax_hessian_function(model, x, y, loss_fn):
    import jax

    shapes = [tuple(v.shape) for v in model.trainable_variables]
    sizes = [int(np.prod(shape)) for shape in shapes]
    with _x64(model):
        non_trainable = [v.value for v in model.non_trainable_variables]

    def loss_of(flat):
        parts = jax.numpy.split(flat, np.cumsum(sizes)[:-1])
        prediction, _ = model.stateless_call(
            [p.reshape(s) for p, s in zip(parts, shapes)], non_trainable, x
        )
        return loss_fn(y, prediction)

    compiled = jax.jit(jax.hessian(loss_of))

    def call(flat):
        with _x64(model):
            return np.asarray(compiled(jax.numpy.asarray(flat, dtype="float64")), dtype=np.float64)

    return call


def _tf_hessian_function(model, x, y, loss_fn):
    import tensorflow as tf

    variables = model.trainable_variables

    @tf.function  # traced once: about 20x faster than eager for many calls
    def blocks():
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss = loss_fn(y, model(x))
            gradient = tf.concat(
                [tf.reshape(g, [-1]) for g in inner.gradient(loss, variables)], axis=0
            )
        return gradient, outer.jacobian(gradient, variables)

    def call(flat):
        offset = 0
        for v in variables:  # load the weights into the float64 copy
            size = int(np.prod(v.shape))
            v.assign(np.reshape(flat[offset : offset + size], v.shape))
            offset += size
        gradient, parts = blocks()
        return np.concatenate(
            [np.reshape(b.numpy(), (len(gradient), -1)) for b in parts], axis=1
        ).astype(np.float64)

    return call


def minimal_ratio(hessian_matrix, tol=0.0):
    """Share of the (symmetrized) Hessian's eigenvalues above `tol`: 1 at a strict local minimum."""
    h = np.asarray(hessian_matrix, dtype=np.float64)
    return float(np.mean(np.linalg.eigvalsh((h + h.T) / 2) > tol))


def hessian_spectrum(hessian_matrix, rel_tol=1e-6, minimal_ratio=minimal_ratio):
    """What a Hessian's eigenvalues say about a critical point.

    A dict of the minimal ratio and the counts of negative, near-zero and positive eigenvalues, plus
    the extremes. Eigenvalues within rel_tol x the largest |eigenvalue| of 0 count as near zero
    (flat directions), not as positive or negative. minimal_ratio(h, tol): the function computing
    the ratio (07's exercise passes the student's own).
    """
    if not 0 <= rel_tol < 1:
        raise ValueError(f"rel_tol must be a float in [0, 1), got {rel_tol!r}")
    h = np.asarray(hessian_matrix, dtype=np.float64)
    eigenvalues = np.linalg.eigvalsh((h + h.T) / 2)
    tol = rel_tol * np.abs(eigenvalues).max()
    return {
        "minimal_ratio": float(minimal_ratio(h, tol)),
        "negative": int(np.sum(eigenvalues < -tol)),
        "near_zero": int(np.sum(np.abs(eigenvalues) <= tol)),
        "positive": int(np.sum(eigenvalues > tol)),
        "lambda_min": float(eigenvalues.min()),
        "lambda_max": float(eigenvalues.max()),
    }


# ------------------------------------------------------- near-critical points


def gradient_norm(model, x, y, loss_fn=None):
    """The L2 norm of the whole gradient of the loss on (x, y) (see `gradients`), in float64."""
    return float(
        np.sqrt(
            sum(
                np.sum(np.asarray(g, dtype=np.float64) ** 2)
                for g in gradients(model, x, y, loss_fn).values()
            )
        )
    )


def descend_gradient_norm(
    model,
    x,
    y,
    *,
    epochs,
    learning_rate=1e-4,
    loss="mse",
    chunk=1000,
    label="gradient-norm descent",
):
    """Move the weights to a nearby point where the gradient (almost) vanishes.

    `epochs` full-batch Adam steps on the objective |dL/dw|^2 instead of L (a minimum of it is any
    critical point: minimum or saddle), in one compiled loop (labs_lib.loops, objective
    "grad_norm"). Works on a models.side_by_side model, each net then descending its own gradient
    norm. Returns the loop's history (epoch, loss, grad_norm before each step).
    """
    optimizer = keras.optimizers.Adam(learning_rate)
    history, _ = fit_full_batch(
        model,
        optimizer,
        x,
        y,
        epochs=epochs,
        loss=loss,
        objective="grad_norm",
        chunk=chunk,
        label=label,
    )
    return history


# ------------------------------------------------------- float64 models


@contextlib.contextmanager
def float64_scope():
    """Inside this block, new Keras layers and models are float64 (weights and computation).

    Sets both floatx and the default dtype policy (Keras caches the policy: floatx alone can leak
    into later models) and, under JAX, jax_enable_x64; all three are restored on exit.
    """
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        with _x64(None):
            yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def float64_copy(model):
    """A float64 clone of a model (same architecture, all floating layers float64), its weights."""
    config = _float64_config({"class_name": "Model", "config": model.get_config()})["config"]
    with float64_scope():
        copy = model.__class__.from_config(config)
        for new, old in zip(copy.weights, model.weights):
            new.assign(np.asarray(keras.ops.convert_to_numpy(old.value)).astype(new.dtype))
    return copy


def _float64_config(config):
    """A model config with every floating layer dtype (the inputs' too) replaced by float64."""
    if isinstance(config, list):
        return [_float64_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    config = {key: _float64_config(value) for key, value in config.items()}
    inner = config.get("config")
    if (
        "class_name" in config
        and isinstance(inner, dict)
        and "dtype" in inner
        and _is_float(inner["dtype"])
    ):
        config["config"] = {**inner, "dtype": "float64"}
    return config


def _is_float(dtype):
    """Whether a serialized dtype or dtype policy names a floating type."""
    name = dtype.get("config", {}).get("name", "") if isinstance(dtype, dict) else str(dtype)
    return name.startswith(("float", "bfloat", "mixed"))


def weight_dtypes(model):
    """Storage dtypes of the trainable weights (under JAX without x64, float64 ones are float32)."""
    return sorted(
        {keras.backend.standardize_dtype(v.value.dtype) for v in model.trainable_variables}
    )


def _x64(model):
    """JAX: a context enabling 64-bit floats (for a float64 model, or model=None); else a no-op."""
    if keras.backend.backend() != "jax":
        return contextlib.nullcontext()
    if model is not None and all(v.dtype != "float64" for v in model.trainable_variables):
        return contextlib.nullcontext()
    import jax

    return jax.enable_x64(True)


# ------------------------------------------------------- gradient checking


def numerical_gradient(f, w, eps=1e-6):
    """Central differences (f(w + eps) - f(w - eps)) / (2 eps) of a scalar f, for each entry of w.

    f is called with a perturbed float64 copy of w, one entry at a time (2 calls per entry).
    """
    _check_eps(eps)
    w = np.array(w, dtype=np.float64)
    flat, grad = w.reshape(-1), np.zeros(w.size)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        up = float(f(w))
        flat[i] = original - eps
        down = float(f(w))
        flat[i] = original
        grad[i] = (up - down) / (2 * eps)
    return grad.reshape(w.shape)


def relative_error(g, g_num):
    """||g - g_num|| / (||g|| + ||g_num||): 0 when equal (or both zero), 1 when opposite."""
    g, g_num = np.asarray(g, dtype=np.float64), np.asarray(g_num, dtype=np.float64)
    if g.shape != g_num.shape:
        raise ValueError(f"g and g_num must have the same shape, got {g.shape} and {g_num.shape}")
    scale = _norm(g) + _norm(g_num)
    return _norm(g - g_num) / scale if scale else 0.0


def gradient_check(model, x, y, layer, n_entries=None, eps=1e-6, seed=0):
    """Automatic vs numerical (central differences) gradient of the loss for one layer's kernel.

    layer: a layer name or layer. n_entries: check a seeded random subset of the kernel's entries
    (None = all). Returns {"relative_error", "autodiff", "numerical", "entries"}: both gradients at
    the flat kernel indices `entries`.
    The model must be float64 (see float64_scope), and so must every layer's output: under JAX,
    Keras 3.15 computes tanh in float32 even then (use sigmoid or relu).
    """
    kernel = _checked_kernel(model, layer, x)
    entries = _entries(kernel.shape, n_entries, seed)
    _check_eps(eps)
    autodiff = gradients(model, x, y)[kernel.path].ravel()[entries]
    original = np.asarray(keras.ops.convert_to_numpy(kernel.value), dtype=np.float64)

    def loss_at(values):
        perturbed = original.copy()
        perturbed.flat[entries] = values
        with _x64(model):
            kernel.assign(perturbed)
        return loss_value(model, x, y)

    try:
        numerical = numerical_gradient(loss_at, original.ravel()[entries], eps)
    finally:
        with _x64(model):
            kernel.assign(original)
    return {
        "relative_error": relative_error(autodiff, numerical),
        "autodiff": autodiff,
        "numerical": numerical,
        "entries": entries,
    }


def _checked_kernel(model, layer, x):
    """The kernel variable of `layer` (name or layer), if the model computes in float64 on x.

    Raises ValueError otherwise.
    """
    with_kernel = [lay for lay in model.layers if getattr(lay, "kernel", None) is not None]
    names = [lay.name for lay in with_kernel]
    name = layer if isinstance(layer, str) else getattr(layer, "name", layer)
    if name not in names:
        raise ValueError(f"layer must be one of {names} (layers with a kernel), got {layer!r}")
    if weight_dtypes(model) != ["float64"]:
        raise ValueError(
            f"gradient_check needs a float64 model (float32 rounding swamps central differences), "
            f"got weights stored as {weight_dtypes(model)}: build it inside "
            f"diagnostics.float64_scope() or convert it with diagnostics.float64_copy(model)"
        )
    low = _low_precision_layers(model, x)
    if low:
        raise ValueError(
            f"gradient_check needs every layer to compute in float64, but {low} return lower "
            "precision (under JAX, Keras 3 computes tanh in float32): use sigmoid or relu, "
            "or TensorFlow"
        )
    return with_kernel[names.index(name)].kernel


def _low_precision_layers(model, x):
    """Names of the layers of a Sequential model whose outputs on x are not float64.

    Other models are not probed: [].
    """
    if not isinstance(model, keras.Sequential):
        return []
    low, h = [], np.asarray(x, dtype=np.float64)
    with _x64(model):
        for layer in model.layers:
            h = layer(h)
            if keras.backend.standardize_dtype(h.dtype) != "float64":
                low.append(layer.name)
    return low


def _entries(shape, n_entries, seed):
    """Flat indices to check: all of them, or a sorted seeded random subset of n_entries."""
    size = int(np.prod(shape))
    if n_entries is None:
        return np.arange(size)
    if not isinstance(n_entries, (int, np.integer)) or not 1 <= n_entries <= size:
        raise ValueError(
            f"n_entries must be None or an int in [1, {size}] (the kernel's size), "
            f"got {n_entries!r}"
        )
    return np.sort(np.random.default_rng(seed).choice(size, size=int(n_entries), replace=False))


def _check_eps(eps):
    """ValueError unless eps is a positive number."""
    if not (isinstance(eps, (int, float)) and eps > 0):
        raise ValueError(f"eps must be a positive float, got {eps!r}")


# ------------------------------------------------------- a hand-written backward pass


def manual_params(sizes, seed=0):
    """Random float64 weights {"W1", "b1", ..., "WL", "bL"} of a tiny network for `manual_gradient`.

    sizes: (inputs, hidden widths..., classes); (inputs, classes) is softmax regression.
    """
    if len(sizes) < 2 or any(int(n) < 1 for n in sizes):
        raise ValueError(
            "sizes must list at least 2 positive widths (inputs, ..., classes), "
            f"got {list(sizes)!r}"
        )
    rng, params = np.random.default_rng(seed), {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{i}"] = rng.normal(scale=1 / np.sqrt(n_in), size=(int(n_in), int(n_out)))
        params[f"b{i}"] = rng.normal(scale=0.1, size=int(n_out))
    return params


def _manual_forward(params, x):
    """Inputs of every layer (x, then the tanh hidden outputs) and the logits."""
    n_layers = len(params) // 2
    inputs = [np.asarray(x, dtype=np.float64)]
    for i in range(1, n_layers):
        inputs.append(np.tanh(inputs[-1] @ params[f"W{i}"] + params[f"b{i}"]))
    return inputs, inputs[-1] @ params[f"W{n_layers}"] + params[f"b{n_layers}"]


def _softmax(logits):
    """Row-wise softmax, max-shifted so that large logits do not overflow."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def manual_loss(params, x, y):
    """Mean cross-entropy of the numpy network (tanh hidden layers, softmax output) on (x, y)."""
    _, logits = _manual_forward(params, x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(log_p)), np.asarray(y)].mean())


def manual_gradient(params, x, y, bug=None):
    """Hand-written backward pass of `manual_loss`: {name: gradient}, same keys as params.

    bug="sign": output error y - p instead of p - y (every gradient flips sign); bug="factor": drops
    the 1/N batch average (gradients N times too large). None: the correct gradient.
    """
    if bug is not None and bug not in MANUAL_BUGS:
        raise ValueError(f"bug must be None or one of {{{', '.join(MANUAL_BUGS)}}}, got {bug!r}")
    inputs, logits = _manual_forward(params, x)
    onehot = np.eye(logits.shape[1])[np.asarray(y)]
    delta = _softmax(logits) - onehot  # d loss / d logits, per example
    if bug == "sign":
        delta = -delta
    if bug != "factor":
        delta = delta / len(logits)
    grads = {}
    for i in range(len(params) // 2, 0, -1):
        grads[f"W{i}"], grads[f"b{i}"] = inputs[i - 1].T @ delta, delta.sum(axis=0)
        if i > 1:
            delta = (delta @ params[f"W{i}"].T) * (1 - inputs[i - 1] ** 2)  # tanh' = 1 - tanh^2
    return {name: grads[name] for name in params}


def manual_gradient_check(params, x, y, bug=None, eps=1e-6):
    """`manual_gradient` (with an optional bug) vs central differences of `manual_loss`.

    Over all weights. Returns {"relative_error", "manual", "numerical"} (both gradients flattened,
    in params order).
    """
    manual = np.concatenate([g.ravel() for g in manual_gradient(params, x, y, bug).values()])
    shapes = [np.shape(w) for w in params.values()]
    splits = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]

    def loss_at(theta):
        parts = np.split(theta, splits)
        return manual_loss({name: p.reshape(s) for name, p, s in zip(params, parts, shapes)}, x, y)

    theta = np.concatenate([np.ravel(w) for w in params.values()])
    numerical = numerical_gradient(loss_at, theta, eps)
    return {
        "relative_error": relative_error(manual, numerical),
        "manual": manual,
        "numerical": numerical,
    }


# ------------------------------------------------------- flatness and sensitivity (notebook 08)


def interpolate(weights_a, weights_b, alpha):
    """(1 - alpha) * a + alpha * b for each pair of arrays (lists as model.get_weights gives).

    Computed in float64 and returned in a's dtype, so alpha 0 gives weights_a and alpha 1 weights_b
    exactly. Non-floating arrays (e.g. a random generator's state) are taken from weights_a.
    """
    if len(weights_a) != len(weights_b) or any(
        np.shape(a) != np.shape(b) for a, b in zip(weights_a, weights_b)
    ):
        raise ValueError(
            f"weights_a and weights_b must come from one architecture, got shapes "
            f"{[np.shape(a) for a in weights_a]} and {[np.shape(b) for b in weights_b]}"
        )
    mixed = []
    for a, b in zip(weights_a, weights_b):
        a = np.asarray(a)
        if not np.issubdtype(a.dtype, np.floating):
            mixed.append(a.copy())
            continue
        value = (1.0 - alpha) * a.astype(np.float64) + alpha * np.asarray(b, dtype=np.float64)
        mixed.append(value.astype(a.dtype))
    return mixed


def interpolation_curve(
    model, weights_a, weights_b, alphas, sets, batch_size=4096, interpolate=interpolate
):
    """Cross-entropy and accuracy of `model` at interpolate(weights_a, weights_b, alpha), per alpha.

    sets: {name: (x, y)} with integer labels. Returns a DataFrame: alpha, then <name>_loss and
    <name>_accuracy per set. The model's own weights are put back afterwards. interpolate: the
    function giving the weights at alpha (08's exercise passes the student's own).
    """
    saved, rows = model.get_weights(), []
    try:
        for alpha in alphas:
            model.set_weights(interpolate(weights_a, weights_b, float(alpha)))
            row = {"alpha": float(alpha)}
            for name, (x, y) in sets.items():
                measured = logit_metrics(y, predict_logits(model, x, batch_size))
                row[f"{name}_loss"], row[f"{name}_accuracy"] = (
                    measured["loss"],
                    measured["accuracy"],
                )
            rows.append(row)
    finally:
        model.set_weights(saved)
    return pd.DataFrame(rows)


def jacobian_norms(jacobians):
    """Frobenius norm of each point's Jacobian, (points, outputs, inputs) -> (points,) float64."""
    j = np.asarray(jacobians, dtype=np.float64)
    return np.sqrt(np.square(j).reshape(len(j), -1).sum(axis=1))


def input_jacobian_norms(model, x, softmax=True, batch_size=256, norms=jacobian_norms):
    """Per example, the Frobenius norm of the Jacobian d output / d input: a (N,) float64 array.

    output: softmax of the model's logits (softmax=True) or the model's raw output, in inference
    mode. Its mean over test points is the network's *sensitivity* to its input (Novak et al. 2018).
    norms: (points, outputs, inputs) Jacobians -> (points,) norms (08's exercise passes its own).
    """
    batches = input_jacobians(model, x, softmax, batch_size)
    return np.concatenate([np.asarray(norms(j), dtype=np.float64) for j in batches])


def input_jacobians(model, x, softmax=True, batch_size=256):
    """The Jacobians d output / d input of x's examples, batch by batch: (points, outputs, inputs)
    float32 arrays, inputs flattened. output as in input_jacobian_norms."""
    x = np.asarray(x, dtype="float32")
    if len(x) == 0:
        raise ValueError("x must hold at least one example, got 0")
    backend = keras.backend.backend()
    if backend == "jax":
        jacobians = _jax_jacobians(model, softmax)
    elif backend == "tensorflow":
        jacobians = _tf_jacobians(model, softmax)
    else:
        raise NotImplementedError(
            "input Jacobians are implemented for the tensorflow and jax backends only, "
            f"got {backend!r}"
        )
    for i in range(0, len(x), batch_size):
        batch = jacobians(x[i : i + batch_size])
        yield batch.reshape(len(batch), batch.shape[1], -1)


def _jax_jacobians(model, softmax):
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def output(single):
        out, _ = model.stateless_call(trainable, non_trainable, single[None], training=False)
        return jax.nn.softmax(out[0]) if softmax else out[0]

    jacobians = jax.jit(jax.vmap(jax.jacrev(output)))
    return lambda batch: np.asarray(jacobians(jnp.asarray(batch)))


def _tf_jacobians(model, softmax):
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def jacobians(batch):
        with tf.GradientTape() as tape:
            tape.watch(batch)
            out = model(batch, training=False)
            out = tf.nn.softmax(out) if softmax else out
        return tape.batch_jacobian(out, batch)

    return lambda batch: jacobians(tf.constant(batch)).numpy()


def sharpness(model, x, y, epsilon=1e-3, steps=10):
    """Keskar et al.'s epsilon-sharpness, in %: 100 (max L(w + z) - L(w)) / (1 + L(w)) over the box
    |z_i| <= epsilon (|w_i| + 1), the maximum estimated by `steps` steps of projected sign-gradient
    ascent from z = 0. L = cross-entropy on (x, y). The model's weights are put back afterwards."""
    if not (epsilon > 0 and steps >= 1):
        raise ValueError(
            f"need epsilon > 0 and steps >= 1, got epsilon={epsilon!r}, steps={steps!r}"
        )
    variables = model.trainable_variables
    start = [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in variables]
    box = [epsilon * (np.abs(w) + 1) for w in start]
    base = loss_value(model, x, y)
    offsets, worst = [np.zeros_like(w) for w in start], base
    try:
        for _ in range(steps):
            grads = gradients(model, x, y)
            for v, w, z, b in zip(variables, start, offsets, box):
                z += 2.5 * b / steps * np.sign(grads[v.path])
                np.clip(z, -b, b, out=z)
                v.assign(w + z)
            worst = max(worst, loss_value(model, x, y))
    finally:
        for v, w in zip(variables, start):
            v.assign(w)
    return 100 * (worst - base) / (1 + base)


# ------------------------------------------------------- 07 optimization: exact critical points


def loss_and_gradient_function(model, x, y, loss_fn=mean_squared_error):
    """A function: flat weight vector -> (loss, flat gradient), both float64, on a float64 copy of
    the model (the counterpart of hessian_function, for the same architecture and data)."""
    _check_batch(x, y)
    model64 = float64_copy(model)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    variables = model64.trainable_variables

    def call(flat):
        offset = 0
        with _x64(model64):  # under JAX, float64 values survive the assignment only in x64
            for v in variables:
                size = int(np.prod(v.shape))
                v.assign(np.reshape(flat[offset : offset + size], v.shape).astype(np.float64))
                offset += size
        grads = gradients(model64, x, y, loss_fn)
        flat_grad = np.concatenate([np.ravel(grads[v.path]) for v in variables])
        return loss_value(model64, x, y, loss_fn), flat_grad.astype(np.float64)

    return call


def newton_critical_point(flat, loss_and_gradient, hessian_at, steps=10, damping=1e-6):
    """Levenberg-Marquardt on grad L = 0 from `flat` (a damped Newton method on ||grad L||^2):
    w <- w - (H^2 + mu I)^-1 H grad L, mu shrinking 10x after a step that lowers ||grad L||
    and growing 10x (same H) until one does. Small mu is Newton's step, which converges to the
    nearest critical point of either kind (minimum or saddle), quadratically once close.

    damping: the first mu, as a share of the largest eigenvalue of H^2.
    Returns (weights, [||grad L|| at the start and after each accepted step]).
    """
    w = np.asarray(flat, dtype=np.float64)
    g = loss_and_gradient(w)[1]
    norms, mu = [float(np.linalg.norm(g))], None
    for _ in range(steps):
        values, vectors = np.linalg.eigh(hessian_at(w))
        mu = damping * np.max(values**2) if mu is None else mu
        along = vectors.T @ g
        for _ in range(12):
            trial = w - vectors @ (values * along / (values**2 + mu))
            trial_g = loss_and_gradient(trial)[1]
            if np.linalg.norm(trial_g) < norms[-1]:
                w, g, mu = trial, trial_g, mu / 10
                break
            mu *= 10
        else:
            break  # no damping lowers the gradient norm: stop here
        norms.append(float(np.linalg.norm(g)))
    return w, norms


def decisive_eigenvalue(eigenvalues, rel_tol=1e-6):
    """|eigenvalue| that decides a critical point's class: the most negative one if any is below
    -rel_tol x max|eigenvalue| (a saddle), else the smallest one above it (a minimum)."""
    values = np.asarray(eigenvalues, dtype=np.float64)
    tol = rel_tol * np.abs(values).max()
    if values.min() < -tol:
        return float(-values.min())
    above = values[values > tol]
    return float(above.min()) if len(above) else 0.0
