"""Model builders: the course's MLPs, with named weight initializers.

Models output logits; the softmax is folded into the loss (`from_logits=True`), which computes
log-softmax stably and reports the true loss even when the logits are huge.
"""
import keras

INITIALIZERS = ("zeros", "ones", "random_normal", "random_uniform", "glorot_normal", "glorot_uniform",
                "he_normal", "he_uniform", "lecun_normal")


def initializer(name, seed=0, stddev=0.05):
    """A Keras initializer by name; `stddev` is used by random_normal only."""
    if name not in INITIALIZERS:
        raise ValueError(f"initializer must be one of {{{', '.join(INITIALIZERS)}}}, got {name!r}")
    if name in ("zeros", "ones"):
        return keras.initializers.get(name)
    if name == "random_normal":
        return keras.initializers.RandomNormal(stddev=stddev, seed=seed)
    return keras.initializers.get({"class_name": name, "config": {"seed": seed}})


def mlp(input_shape, hidden=(100, 100, 100), n_classes=10, activation="relu",
        kernel_initializer="glorot_uniform", seed=0, stddev=0.05, name="mlp"):
    """A dense network: Flatten, one Dense per entry of `hidden`, then `n_classes` logits.

    Every Dense kernel uses `kernel_initializer` (each layer with its own seed); biases start at zero.
    """
    if not hidden or any(int(w) < 1 for w in hidden):
        raise ValueError(f"hidden must be a non-empty list of positive widths, got {list(hidden)!r}")
    layers = [keras.Input(shape=tuple(input_shape)), keras.layers.Flatten()]
    for i, width in enumerate(hidden):
        init = initializer(kernel_initializer, seed=seed + i, stddev=stddev)
        layers.append(keras.layers.Dense(int(width), activation=activation, kernel_initializer=init,
                                         name=f"hidden_{i + 1}"))
    init = initializer(kernel_initializer, seed=seed + len(hidden), stddev=stddev)
    layers.append(keras.layers.Dense(n_classes, kernel_initializer=init, name="logits"))
    return keras.Sequential(layers, name=name)


def dense_layers(model):
    """The model's Dense layers, input to output."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
