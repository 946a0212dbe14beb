"""Regularization: weight penalties, input noise, label (output) noise and data augmentation.

Noise, dropout and augmentation act in training only (Keras runs these layers with training=True
inside fit and as the identity in evaluate/predict); label noise changes the training targets only.
"""

import dataclasses
import math

import keras
import numpy as np

PENALTIES = ("l1", "l2")


def weight_penalty(kind, strength):
    """A Keras kernel regularizer: l1 adds strength * sum|w|, l2 strength * sum w^2 (no 1/2)."""
    if kind not in PENALTIES:
        raise ValueError(f"penalty must be one of {{{', '.join(PENALTIES)}}}, got {kind!r}")
    if not strength >= 0:
        raise ValueError(f"penalty strength must be >= 0, got {strength!r}")
    return keras.regularizers.L1(strength) if kind == "l1" else keras.regularizers.L2(strength)


def penalty(kernels, kind, strength):
    """The penalty a list of weight arrays adds to the loss, computed with numpy (a reference)."""
    total = sum(np.abs(k).sum() if kind == "l1" else np.square(k).sum() for k in kernels)
    return strength * float(total)


def noise_stddev(variance):
    """The stddev that keras.layers.GaussianNoise takes, from a noise variance."""
    if not variance >= 0:
        raise ValueError(f"noise variance must be >= 0, got {variance!r}")
    return math.sqrt(variance)


def augmentation(translation=0.1, zoom=0.1, rotation_degrees=10.0, seed=0):
    """Random translation, zoom and rotation of the images, in training only.

    translation and zoom: fractions (of height/width, of size); rotation_degrees: degrees. Pixels
    moved in from outside the image are filled with 0, the background of every dataset here.
    """
    return keras.Sequential(
        [
            keras.layers.RandomTranslation(
                translation, translation, fill_mode="constant", seed=seed
            ),
            keras.layers.RandomZoom(zoom, zoom, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomRotation(
                rotation_degrees / 360.0, fill_mode="constant", seed=seed + 2
            ),
        ],
        name="augmentation",
    )


def label_noise(y, n_classes, scale=0.1, seed=0):
    """Noisy one-hot targets: eps = |N(0, scale)| is taken from the true class and spread evenly
    over the other classes. Rows stay probability distributions (eps is capped at 1 - 1/n_classes).

    y: integer labels (N,). Returns float32 (N, n_classes). Use it on training labels only.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    eps = np.minimum(np.abs(rng.normal(0.0, scale, size=len(y))), 1.0 - 1.0 / n_classes)
    targets = np.repeat((eps / (n_classes - 1))[:, None], n_classes, axis=1)
    targets[np.arange(len(y)), y] = 1.0 - eps
    return targets.astype("float32")


def one_hot(y, n_classes):
    """Exact one-hot float32 targets for integer labels (used for clean validation targets)."""
    return np.eye(n_classes, dtype="float32")[np.asarray(y)]


def with_label_noise(ds, scale=0.1, seed=0):
    """A copy of a Dataset with noisy training targets and exact one-hot validation/test targets.

    Train with `training.compile_classifier(..., soft_targets=True)`.
    """
    n_classes = len(ds.class_names)
    return dataclasses.replace(
        ds,
        y_train=label_noise(ds.y_train, n_classes, scale, seed),
        y_val=one_hot(ds.y_val, n_classes),
        y_test=one_hot(ds.y_test, n_classes),
    )


def target_entropy(targets):
    """Mean entropy (nats) of target rows: the floor under the cross-entropy a model can reach."""
    t = np.clip(np.asarray(targets, dtype="float64"), 1e-12, 1.0)
    return float(-(np.asarray(targets) * np.log(t)).sum(axis=1).mean())


def dense_kernels(model, penalized=False):
    """The kernels of `model`'s Dense layers as numpy arrays (only those with a kernel regularizer,
    if penalized)."""
    return [
        keras.ops.convert_to_numpy(layer.kernel)
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
        and (layer.kernel_regularizer is not None or not penalized)
    ]


def keras_penalty(model):
    """The regularization terms Keras adds to `model`'s loss (sum of model.losses), a float."""
    return float(sum(keras.ops.convert_to_numpy(term) for term in model.losses))


def small_weights(model, threshold=1e-3):
    """{"near_zero": share of kernel weights with |w| < threshold, "exact_zero": share exactly 0}
    over every Dense kernel of `model` (what an L1 penalty is said to do)."""
    weights = np.concatenate([np.ravel(k) for k in dense_kernels(model)])
    return {
        "near_zero": float(np.mean(np.abs(weights) < threshold)),
        "exact_zero": float(np.mean(weights == 0)),
    }
