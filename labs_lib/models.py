"""Model builders: the course's MLPs, with named weight initializers.

Models output logits; the softmax is folded into the loss (`from_logits=True`), which computes
log-softmax stably and reports the true loss even when the logits are huge.
"""

import keras

from labs_lib import layers as scratch_layers
from labs_lib import regularization

# Moving-average momentum of batch normalization's inference statistics. Keras's 0.99 needs
# ~500 steps to forget its initial values, more than a quick run takes; 0.9 (PyTorch's) needs ~50.
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
    """A dense classifier: [augment], Flatten, [noise], Dense + [Dropout] per `hidden`, logits.

    Kernels: `kernel_initializer` (each layer its own seed), `penalty` "l1"/"l2" of `strength`.
    dropout: one rate, or one per hidden layer (a short list repeats its last); augment: a Keras
    layer for the images (regularization.augmentation). Noise, dropout, augment: training only.
    batch_norm: True (Keras's) or "scratch" (labs_lib.layers.BatchNorm) after a bias-free Dense.
    activation: any Keras activation name (relu, sigmoid, tanh, leaky_relu, ...).
    """
    check_mlp_options(hidden, batch_norm)
    rates = dropout_rates(dropout, len(hidden))
    reg = regularization.weight_penalty(penalty, strength) if penalty else None
    layers = input_layers(input_shape, augment, input_noise_variance, seed)
    for i, (width, rate) in enumerate(zip(hidden, rates)):
        init = initializer(kernel_initializer, seed=seed + i, stddev=stddev)
        layers += hidden_layers(i + 1, width, activation, init, reg, batch_norm)
        if rate:
            layers.append(keras.layers.Dropout(rate, seed=seed + i, name=f"dropout_{i + 1}"))
    init = initializer(kernel_initializer, seed=seed + len(hidden), stddev=stddev)
    logits = keras.layers.Dense(
        n_classes, kernel_initializer=init, kernel_regularizer=reg, name="logits"
    )
    return keras.Sequential([*layers, logits], name=name)


def check_mlp_options(hidden, batch_norm):
    """Raise ValueError unless `hidden` holds positive widths and `batch_norm` is a known kind."""
    if not hidden or any(int(w) < 1 for w in hidden):
        raise ValueError(
            f"hidden must be a non-empty list of positive widths, got {list(hidden)!r}"
        )
    if batch_norm not in (False, True, "scratch"):
        raise ValueError(f"batch_norm must be False, True or 'scratch', got {batch_norm!r}")


def input_layers(input_shape, augment, noise_variance, seed):
    """The layers before the first hidden one: Input, [augment], Flatten, [Gaussian noise]."""
    layers = [keras.Input(shape=tuple(input_shape))]
    if augment is not None:
        layers.append(augment)
    layers.append(keras.layers.Flatten())
    if noise_variance:
        stddev = regularization.noise_stddev(noise_variance)
        layers.append(keras.layers.GaussianNoise(stddev, seed=seed))
    return layers


def hidden_layers(number, width, activation, init, reg, batch_norm):
    """Hidden layer `number` (1-based): Dense, or Dense (no bias), batch norm and activation."""
    dense = keras.layers.Dense(
        int(width),
        activation=None if batch_norm else activation,
        use_bias=not batch_norm,
        kernel_initializer=init,
        kernel_regularizer=reg,
        name=f"hidden_{number}",
    )
    if not batch_norm:
        return [dense]
    normalize = batch_norm_layer(batch_norm, f"batch_norm_{number}")
    return [dense, normalize, keras.layers.Activation(activation, name=f"{activation}_{number}")]


def batch_norm_layer(kind, name):
    """Batch normalization, the pack's momentum: Keras's (kind True) or labs_lib's ("scratch")."""
    if kind == "scratch":
        return scratch_layers.BatchNorm(momentum=BN_MOMENTUM, name=name)
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def dropout_rates(dropout, n_layers):
    """One dropout rate per hidden layer from one rate or a list (a short list repeats its last)."""
    rates = list(dropout) if isinstance(dropout, (list, tuple)) else [dropout]
    if not rates or any(not 0 <= r < 1 for r in rates) or len(rates) > n_layers:
        raise ValueError(
            f"dropout must be a rate in [0, 1) or a list of at most {n_layers} such rates, "
            f"got {dropout!r}"
        )
    return rates + [rates[-1]] * (n_layers - len(rates))


def dense_layers(model):
    """The model's Dense layers, input to output."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def side_by_side(nets, name="side_by_side", inputs_of=None):
    """One model running `nets` (same input shape, distinct names) in parallel, one output per net.

    Trained on the sum of their losses, each net gets exactly the gradient it would get alone (the
    other terms do not depend on its weights), so one compiled step trains them all: the results of
    separate runs with the same seed, at the launch cost of one (small networks are launch-bound).
    inputs_of: which input each net reads (0, 1, ...; None: one input for all), so that repeats can
    see the training data in different orders (training.train_repeats).
    """
    names = [net.name for net in nets]
    if len(set(names)) != len(names):
        raise ValueError(f"side_by_side needs distinct model names, got {names}")
    shapes = {tuple(net.inputs[0].shape[1:]) for net in nets}
    if len(shapes) != 1:
        raise ValueError(f"side_by_side needs one input shape, got {sorted(shapes)}")
    inputs_of = list(inputs_of) if inputs_of is not None else [0] * len(nets)
    if len(inputs_of) != len(nets) or sorted(set(inputs_of)) != list(range(max(inputs_of) + 1)):
        raise ValueError(
            f"inputs_of must give each of the {len(nets)} nets an input 0, 1, ... with none "
            f"unused, got {inputs_of}"
        )
    shape = shapes.pop()
    inputs = [keras.Input(shape=shape, name=f"input_{i}") for i in range(max(inputs_of) + 1)]
    outputs = [net(inputs[i]) for net, i in zip(nets, inputs_of)]
    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)
    model.inputs_of = tuple(inputs_of)  # read by training.fit_side_by_side
    return model


# ------------------------------------------------------- networks of a given size (notebook 06)


def regressor(widths, activation="relu", seed=0, name="regressor"):
    """A 1-input, 1-output dense network, hidden layers of `widths` (Glorot-uniform, own seeds)."""
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
        smallest = dense_param_count([1] * max(depth, 1), n_in, n_out)
        raise ValueError(
            f"need depth >= 1 and a budget of at least {smallest} parameters, "
            f"got depth={depth!r}, budget={budget!r}"
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
    """3x3 ReLU conv + 2x2 max-pool per `conv_filters`, Flatten, ReLU Dense per `dense`, logits."""
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
    """(conv_filters, dense widths) of a 2-conv-layer `cnn` with `n_dense` Dense layers (the last
    one is the logits) whose parameter count is closest to `budget`: first conv layer
    `first_filters`, the second's filters and one hidden Dense width (at least `min_width`) searched
    (ties: second conv closest to 2 x first_filters)."""
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


# ------------------------------------------- one trunk, dense heads of one budget (notebook 06)


def dense_head_for_budget(n_dense, budget, conv_filters, input_shape=(28, 28, 1), n_classes=10):
    """Hidden Dense widths of a `cnn` with the convolutional trunk `conv_filters` and `n_dense`
    Dense layers (the last one is the logits) whose parameter count is closest to `budget`: only the
    dense head varies. The first hidden layer (fed by the large flattened trunk) gets its own width,
    the others one shared width (ties: the widest narrowest layer)."""
    if n_dense < 1:
        raise ValueError(f"n_dense must be at least 1 (the logits layer), got {n_dense!r}")
    trunk = cnn_param_count(conv_filters, [], input_shape, n_classes=0)
    flat = cnn_param_count(conv_filters, [], input_shape, n_classes=1) - trunk - 1
    if n_dense == 1:
        return []
    best = None
    for first in range(1, 257):
        for rest in range(1, 257) if n_dense > 2 else [0]:
            widths = [first] + [rest] * (n_dense - 2)
            miss = abs(trunk + dense_param_count(widths, flat, n_classes) - budget)
            best = min(best or (miss, 0, widths), (miss, -min(widths), widths))
    return best[2]
