"""Model builders: the course's MLPs, with named weight initializers.

Models output logits; the softmax is folded into the loss (`from_logits=True`), which computes
log-softmax stably and reports the true loss even when the logits are huge.
"""

import keras

from labs_lib import layers as scratch_layers
from labs_lib import regularization

# Moving-average momentum of batch normalization's inference statistics. Keras's 0.99 needs ~500 steps
# to forget its initial values, more than a quick run takes; 0.9 (PyTorch's default) needs ~50.
BN_MOMENTUM = 0.9

INITIALIZERS = (
    "zeros",
    "ones",
    "random_normal",
    "random_uniform",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
)


def initializer(name, seed=0, stddev=0.05):
    """A Keras initializer by name; `stddev` is used by random_normal only."""
    if name not in INITIALIZERS:
        raise ValueError(f"initializer must be one of {{{', '.join(INITIALIZERS)}}}, got {name!r}")
    if name in ("zeros", "ones"):
        return keras.initializers.get(name)
    if name == "random_normal":
        return keras.initializers.RandomNormal(stddev=stddev, seed=seed)
    return keras.initializers.get({"class_name": name, "config": {"seed": seed}})


def mlp(
    input_shape,
    hidden=(100, 100, 100),
    n_classes=10,
    activation="relu",
    kernel_initializer="glorot_uniform",
    seed=0,
    stddev=0.05,
    *,
    penalty=None,
    strength=0.0,
    dropout=0.0,
    input_noise_variance=0.0,
    augment=None,
    batch_norm=False,
    name="mlp",
):
    """A dense network: [augmentation], Flatten, [Gaussian input noise], Dense+[Dropout] per `hidden`, logits.

    Every Dense kernel uses `kernel_initializer` (each layer its own seed) and, if `penalty` is "l1" or
    "l2", that weight penalty of `strength`; biases start at zero. `dropout` is one rate for every hidden
    layer or a list, one per layer (a shorter list repeats its last rate). `augment`: a Keras layer
    applied to the images first (see regularization.augmentation). Noise, dropout and augmentation act
    in training only. `batch_norm`: each hidden layer is Dense (no bias), batch normalization, activation;
    True uses keras.layers.BatchNormalization, "scratch" the from-scratch labs_lib.layers.BatchNorm.
    `activation` is any Keras activation name (relu, sigmoid, tanh, leaky_relu, ...).
    """
    if not hidden or any(int(w) < 1 for w in hidden):
        raise ValueError(
            f"hidden must be a non-empty list of positive widths, got {list(hidden)!r}"
        )
    if batch_norm not in (False, True, "scratch"):
        raise ValueError(f"batch_norm must be False, True or 'scratch', got {batch_norm!r}")
    rates = dropout_rates(dropout, len(hidden))
    reg = regularization.weight_penalty(penalty, strength) if penalty else None
    layers = [keras.Input(shape=tuple(input_shape))]
    if augment is not None:
        layers.append(augment)
    layers.append(keras.layers.Flatten())
    if input_noise_variance:
        layers.append(
            keras.layers.GaussianNoise(regularization.noise_stddev(input_noise_variance), seed=seed)
        )
    for i, (width, rate) in enumerate(zip(hidden, rates)):
        init = initializer(kernel_initializer, seed=seed + i, stddev=stddev)
        if batch_norm:
            layers += [
                keras.layers.Dense(
                    int(width),
                    use_bias=False,
                    kernel_initializer=init,
                    kernel_regularizer=reg,
                    name=f"hidden_{i + 1}",
                ),
                batch_norm_layer(batch_norm, f"batch_norm_{i + 1}"),
                keras.layers.Activation(activation, name=f"{activation}_{i + 1}"),
            ]
        else:
            layers.append(
                keras.layers.Dense(
                    int(width),
                    activation=activation,
                    kernel_initializer=init,
                    kernel_regularizer=reg,
                    name=f"hidden_{i + 1}",
                )
            )
        if rate:
            layers.append(keras.layers.Dropout(rate, seed=seed + i, name=f"dropout_{i + 1}"))
    init = initializer(kernel_initializer, seed=seed + len(hidden), stddev=stddev)
    layers.append(
        keras.layers.Dense(
            n_classes, kernel_initializer=init, kernel_regularizer=reg, name="logits"
        )
    )
    return keras.Sequential(layers, name=name)


def batch_norm_layer(kind, name):
    """A batch-normalization layer with the pack's momentum: Keras's (kind True) or the from-scratch one ("scratch")."""
    if kind == "scratch":
        return scratch_layers.BatchNorm(momentum=BN_MOMENTUM, name=name)
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def dropout_rates(dropout, n_layers):
    """One dropout rate per hidden layer from a single rate or a list (a short list repeats its last rate)."""
    rates = list(dropout) if isinstance(dropout, (list, tuple)) else [dropout]
    if not rates or any(not 0 <= r < 1 for r in rates) or len(rates) > n_layers:
        raise ValueError(
            f"dropout must be a rate in [0, 1) or a list of at most {n_layers} such rates, got {dropout!r}"
        )
    return rates + [rates[-1]] * (n_layers - len(rates))


def dense_layers(model):
    """The model's Dense layers, input to output."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def side_by_side(nets, name="side_by_side"):
    """One model running `nets` (same input shape, distinct names) in parallel, one output per net.

    Trained on the sum of their losses, each net gets exactly the gradient it would get alone (the other
    terms do not depend on its weights), so one compiled step trains them all: the results of separate
    runs with the same seed, at the launch cost of one (small networks are launch-bound).
    """
    names = [net.name for net in nets]
    if len(set(names)) != len(names):
        raise ValueError(f"side_by_side needs distinct model names, got {names}")
    shapes = {tuple(net.inputs[0].shape[1:]) for net in nets}
    if len(shapes) != 1:
        raise ValueError(f"side_by_side needs one input shape, got {sorted(shapes)}")
    inputs = keras.Input(shape=shapes.pop())
    return keras.Model(inputs, [net(inputs) for net in nets], name=name)


# --------------------------------------------------------------------------- networks of a given size (notebook 06)


def regressor(widths, activation="relu", seed=0, name="regressor"):
    """A 1-input, 1-output dense network with hidden layers of `widths` (Glorot-uniform, each layer its own seed)."""
    layers = [keras.Input(shape=(1,))]
    for i, width in enumerate(widths):
        layers.append(
            keras.layers.Dense(
                int(width),
                activation=activation,
                name=f"hidden_{i + 1}",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
            )
        )
    layers.append(
        keras.layers.Dense(
            1,
            name="output",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(widths)),
        )
    )
    return keras.Sequential(layers, name=name)


def dense_param_count(widths, n_in=1, n_out=1):
    """Weights and biases of a dense network n_in -> widths... -> n_out."""
    sizes = [n_in, *widths, n_out]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def widths_for_budget(depth, budget, n_in=1, n_out=1):
    """Hidden widths for `depth` layers whose parameter count is closest to `budget`: every layer of
    one width w except the last, whose width is then chosen to hit the budget."""
    if depth < 1 or budget < dense_param_count([1] * depth, n_in, n_out):
        raise ValueError(
            f"need depth >= 1 and a budget of at least {dense_param_count([1] * max(depth, 1), n_in, n_out)} "
            f"parameters, got depth={depth!r}, budget={budget!r}"
        )
    best = None
    for w in range(1, budget + 1):
        if dense_param_count([w] * depth, n_in, n_out) > 2 * budget and depth > 1:
            break
        for last in [w] if depth == 1 else range(1, 2 * w + 1):
            widths = [w] * (depth - 1) + [last]
            miss = abs(dense_param_count(widths, n_in, n_out) - budget)
            if best is None or miss < best[0]:
                best = (miss, widths)
        if depth == 1 and dense_param_count([w], n_in, n_out) > budget:
            break
    return best[1]


def cnn(conv_filters, dense, input_shape=(28, 28, 1), n_classes=10, seed=0, name="cnn"):
    """Conv(3x3, ReLU) + 2x2 max-pool per entry of `conv_filters`, Flatten, ReLU Dense layers `dense`, logits."""
    layers = [keras.Input(shape=tuple(input_shape))]
    for i, filters in enumerate(conv_filters):
        layers += [
            keras.layers.Conv2D(
                int(filters),
                3,
                activation="relu",
                name=f"conv_{i + 1}",
                kernel_initializer=keras.initializers.HeNormal(seed=seed + i),
            ),
            keras.layers.MaxPooling2D(2, name=f"pool_{i + 1}"),
        ]
    layers.append(keras.layers.Flatten())
    for i, width in enumerate(dense):
        layers.append(
            keras.layers.Dense(
                int(width),
                activation="relu",
                name=f"dense_{i + 1}",
                kernel_initializer=keras.initializers.HeNormal(seed=seed + 10 + i),
            )
        )
    layers.append(
        keras.layers.Dense(
            n_classes,
            name="logits",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 20),
        )
    )
    return keras.Sequential(layers, name=name)


def cnn_param_count(conv_filters, dense, input_shape=(28, 28, 1), n_classes=10):
    """Weights and biases of `cnn(conv_filters, dense, ...)`, computed without building it."""
    side, channels, count = input_shape[0], input_shape[-1], 0
    for filters in conv_filters:
        count += 9 * channels * filters + filters
        side, channels = (side - 2) // 2, filters  # 3x3 valid convolution, then 2x2 pooling
    return count + dense_param_count(dense, side * side * channels, n_classes)


def cnn_for_budget(
    n_dense, budget, first_filters=8, input_shape=(28, 28, 1), n_classes=10, min_width=8
):
    """(conv_filters, dense widths) of a 2-conv-layer `cnn` with `n_dense` Dense layers (the last one is the
    logits) whose parameter count is closest to `budget`: first conv layer `first_filters`, the second's
    filters and one hidden Dense width (at least `min_width`) searched (ties: second conv closest to
    2 x first_filters)."""
    if n_dense < 1:
        raise ValueError(f"n_dense must be at least 1 (the logits layer), got {n_dense!r}")
    best = None
    for filters in range(1, 257):
        for width in range(min_width, 1025) if n_dense > 1 else [0]:
            conv, dense = (first_filters, filters), [width] * (n_dense - 1)
            key = (
                abs(cnn_param_count(conv, dense, input_shape, n_classes) - budget),
                abs(filters - 2 * first_filters),
            )
            if best is None or key < best[0]:
                best = (key, (conv, dense))
    return best[1]
