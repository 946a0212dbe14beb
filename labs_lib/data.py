"""Datasets: MNIST, Fashion-MNIST, CIFAR-10, notMNIST, Gurmukhi digits, and a synthetic stand-in.

`load(name)` returns a `Dataset`: train / validation / test arrays shaped (N, H, W, C), ink bright
on a 0 background, labels int32. Files come from `data_dir()`, laid out like `shared/data` (see
data/README.md); each one is checked against its published SHA-256 before use, and a missing one is
fetched with `keras.utils.get_file` (the files, checks and readers are in `_data_sources`). Keras is
imported only for a download: importing this module is cheap.
"""

from __future__ import annotations

import numbers
import os
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from labs_lib import PROJECT_ROOT
from labs_lib._data_sources import (  # noqa: F401 - part of this module's API
    INFO,
    NOTMNIST_TEST_FRACTION,
    READERS,
    ChecksumError,
    DatasetNotFoundError,
    available_sizes,
    held_count,
    read_idx,
    safe_extract,
)

DATASETS = ("mnist", "fashion_mnist", "cifar10", "notmnist", "gurmukhi", "synthetic")
REAL_DATASETS = DATASETS[:-1]

SYNTHETIC_SIZES = {"train": 2000, "val": 500, "test": 500}


# ------------------------------------------------------- Dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train / validation / test arrays of one dataset, with where they came from."""

    name: str
    like: str
    synthetic: bool
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]
    source: str

    @property
    def title(self) -> str:
        """Display name; a synthetic set says plainly that it is not real data."""
        if self.synthetic:
            return f"synthetic data ({INFO[self.like].title}-shaped stand-in, not real data)"
        return INFO[self.name].title

    def sizes(self) -> dict[str, int]:
        """Number of examples per part: {"train": ..., "val": ..., "test": ...}."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def summary(self) -> str:
        """A few lines for a notebook: title, source, sizes, array shape, dtype and range."""
        sizes = ", ".join(f"{part} {n}" for part, n in self.sizes().items())
        xs = [x for x in (self.x_train, self.x_val, self.x_test) if x.size]
        low = min(x.min() for x in xs) if xs else 0
        high = max(x.max() for x in xs) if xs else 0
        shape, classes = self.x_train.shape[1:], ", ".join(self.class_names)
        return "\n".join(
            [
                self.title,
                f"  source: {self.source}",
                f"  sizes:  {sizes}",
                f"  x: {shape} per example, {self.x_train.dtype}, range [{low:g}, {high:g}]",
                f"  y: {self.y_train.dtype}, {len(self.class_names)} classes ({classes})",
            ]
        )


# ------------------------------------------------------- public helpers


def data_dir() -> Path:
    """The data directory: $LABS_DATA_DIR if set, else PROJECT_ROOT / "data"."""
    return _default_data_dir()


def _default_data_dir() -> Path:
    env = os.environ.get("LABS_DATA_DIR")
    return Path(env).expanduser() if env else PROJECT_ROOT / "data"


# ------------------------------------------------------- load


def load(
    name,
    *,
    n_train=None,
    n_val=None,
    n_test=None,
    val_split=0.1,
    seed=0,
    flatten=False,
    normalize=True,
    like="mnist",
    data_dir=None,
) -> Dataset:
    """One dataset split into train / val / test; same arguments give byte-identical arrays.

    val_split: share of the official training set held out (stratified, seeded) as validation.
    n_train, n_val, n_test: seeded random subsets of each part (None = all).
    like: for name="synthetic", the real dataset whose shape and classes it imitates.
    """
    _check_args(name, like, n_train, n_val, n_test, val_split, seed, flatten, normalize)
    wanted = {"train": n_train, "val": n_val, "test": n_test}
    if name == "synthetic":
        parts, source = _synthetic_parts(like, wanted, seed), _synthetic_source(like, seed)
        return _dataset("synthetic", like, True, parts, source, flatten, normalize)
    root = (Path(data_dir).expanduser() if data_dir is not None else _default_data_dir()).absolute()
    _check_sizes(name, wanted, available_sizes(name, val_split, root), val_split)
    raw, origin = READERS[name](root)
    origin = origin.replace(str(root), "<data dir>")  # no machine paths in reports
    parts, notes = _split(name, raw, wanted, val_split, seed)
    return _dataset(name, name, False, parts, "; ".join([origin, *notes]), flatten, normalize)


def _dataset(name, like, synthetic, parts, source, flatten, normalize) -> Dataset:
    arrays = {}
    for part, (x, y) in parts.items():
        arrays[f"x_{part}"] = _images(x, INFO[like].shape, flatten, normalize)
        arrays[f"y_{part}"] = np.asarray(y, dtype=np.int32)
    return Dataset(
        name=name,
        like=like,
        synthetic=synthetic,
        class_names=INFO[like].class_names,
        source=source,
        **arrays,
    )


def _images(x: np.ndarray, shape, flatten: bool, normalize: bool) -> np.ndarray:
    """uint8 images as (N, H, W, C) or (N, H*W*C), float32 in [0, 1] when normalized."""
    x = x.reshape((len(x), *shape))
    if flatten:
        x = x.reshape(len(x), int(np.prod(shape)))
    if normalize:
        scaled = x.astype(np.float32)
        scaled /= np.float32(255)  # in place: one float copy of the data, not two
        return scaled
    return np.ascontiguousarray(x, dtype=np.uint8)


# ------------------------------------------------------- argument checks


def _check_args(name, like, n_train, n_val, n_test, val_split, seed, flatten, normalize) -> None:
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    if not isinstance(like, str) or like not in REAL_DATASETS:
        raise ValueError(f"like must be one of {REAL_DATASETS}, got {like!r}")
    if (
        isinstance(val_split, bool)
        or not isinstance(val_split, numbers.Real)
        or not 0 < val_split < 1
    ):
        raise ValueError(f"val_split must be a float in (0, 1), got {val_split!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    for arg, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if n is not None and (not _is_int(n) or n <= 0):
            raise ValueError(f"{arg} must be a positive int or None (all), got {n!r}")
    for arg, flag in (("flatten", flatten), ("normalize", normalize)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{arg} must be True or False, got {flag!r}")


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_sizes(name, wanted, available, val_split) -> None:
    for part in ("val", "train"):
        if available[part] == 0:
            raise ValueError(
                f"val_split={val_split!r} leaves no {part} examples for {name}; "
                "choose a val_split that keeps both parts non-empty"
            )
    for part, n in wanted.items():
        if n is not None and n > available[part]:
            raise ValueError(
                f"n_{part}={n} is larger than the {available[part]} {part} examples of {name} "
                f"(val_split={val_split!r}); use at most {available[part]}, or None for all"
            )


# ------------------------------------------------------- splits


def _rng(seed: int, stream: str) -> np.random.Generator:
    """A random stream per purpose, so changing one subset leaves the others as they were."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def _stratified_holdout(y: np.ndarray, fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices (kept, held): `fraction` of each class held out; round(fraction * N) held."""
    classes, counts = np.unique(y, return_counts=True)
    quota = fraction * counts
    n_held = np.floor(quota).astype(int)
    extra = held_count(fraction, len(y)) - int(n_held.sum())
    n_held[np.argsort(n_held - quota, kind="stable")[:extra]] += 1  # largest remainders first
    held = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, n_held)]
    )
    held = np.sort(held)
    return np.setdiff1d(np.arange(len(y)), held, assume_unique=True), held


def _pick(index: np.ndarray, n, rng, shuffle: bool) -> np.ndarray:
    """A seeded subset of `index` (all when n is None), shuffled or in the original order."""
    order = rng.permutation(len(index))[:n]
    return index[order] if shuffle else index[np.sort(order)]


def _split(name, raw, wanted, val_split, seed):
    """({"train": (x, y), "val": ..., "test": ...}, notes for `source`) from the parts on disk.

    Train and val come in a seeded random order; an official test set keeps its order.
    """
    sources, notes = (
        _own_split(raw) if name == "gurmukhi" else _held_out_split(name, raw, val_split, seed)
    )
    parts = {}
    for part, (x, y, index) in sources.items():
        shuffle = part != "test" or name == "notmnist"
        chosen = _pick(index, wanted[part], _rng(seed, part), shuffle)
        if wanted[part] is not None:
            notes.append(f"{part} subset {wanted[part]} of {len(index)}")
        parts[part] = (x[chosen], y[chosen])
    return parts, notes


def _all(x, y):
    return x, y, np.arange(len(y))


def _own_split(raw):
    """Gurmukhi: the dataset's own train / validation parts, an empty test set."""
    x, y = raw["train"]
    sources = {"train": _all(x, y), "val": _all(*raw["val"]), "test": _all(x[:0], y[:0])}
    return sources, [
        "the dataset's own train/validation split (val_split ignored), no test set; "
        "inverted to bright ink on a 0 background"
    ]


def _held_out_split(name, raw, val_split, seed):
    """{part: (x, y, indices)}: val_split of train held out (for notMNIST, after its test set)."""
    x, y = raw["train"]
    notes = []
    if name == "notmnist":
        kept, test = _stratified_holdout(y, NOTMNIST_TEST_FRACTION, _rng(seed, "test-holdout"))
        test_source = (x, y, test)
        notes.append(f"test = stratified {NOTMNIST_TEST_FRACTION:g} hold-out (no official split)")
    else:
        kept, test_source = np.arange(len(y)), _all(*raw["test"])
    train, val = _stratified_holdout(y[kept], val_split, _rng(seed, "val-holdout"))
    notes.append(f"val = stratified {val_split:g} of the training set (seed {seed})")
    return {"train": (x, y, kept[train]), "val": (x, y, kept[val]), "test": test_source}, notes


# ------------------------------------------------------- synthetic

_SYNTHETIC_SHIFT = 2  # samples move by up to this many pixels each way
_SYNTHETIC_NOISE = 0.35  # pixel noise for 784 values (MNIST), as a fraction of full brightness
_SYNTHETIC_BLOBS = 3  # Gaussian blobs per class prototype


def _prototypes(like: str) -> np.ndarray:
    """(classes, shifts, shifts, H, W, C) smooth images in [0, 1], one set of blobs per class.

    Seeded by the `like` name only, so every `seed` draws samples around the same prototypes.
    """
    h, w, c = INFO[like].shape
    n_classes = len(INFO[like].class_names)
    rng = np.random.default_rng(zlib.crc32(f"synthetic prototypes {like}".encode()))
    centres = rng.uniform(0.25, 0.75, (n_classes, _SYNTHETIC_BLOBS, 2)) * (h, w)
    widths = rng.uniform(0.06, 0.14, (n_classes, _SYNTHETIC_BLOBS)) * h
    colours = rng.uniform(0.3, 1.0, (n_classes, _SYNTHETIC_BLOBS, c))
    shifts = np.arange(-_SYNTHETIC_SHIFT, _SYNTHETIC_SHIFT + 1)
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    out = np.zeros((n_classes, len(shifts), len(shifts), h, w, c))
    for k in range(n_classes):
        for i, dy in enumerate(shifts):
            for j, dx in enumerate(shifts):
                for (cy, cx), s, colour in zip(centres[k], widths[k], colours[k]):
                    blob = np.exp(-((rows - cy - dy) ** 2 + (cols - cx - dx) ** 2) / (2 * s * s))
                    out[k, i, j] += blob[..., None] * colour
    return out / out.max(axis=(3, 4, 5), keepdims=True)


def _synthetic_part(prototypes: np.ndarray, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n uint8 samples (balanced classes): a class prototype, shifted, dimmed, plus pixel noise."""
    n_classes, n_shifts = prototypes.shape[:2]
    y = rng.permutation(np.arange(n) % n_classes)
    dy, dx = rng.integers(0, n_shifts, (2, n))
    gain = rng.uniform(0.6, 1.0, (n, 1, 1, 1))
    # more pixels average more noise away: scale it so every shape is about as hard as MNIST's
    noise = _SYNTHETIC_NOISE * np.sqrt(np.prod(prototypes.shape[3:]) / 784)
    x = np.empty((n, *prototypes.shape[3:]), np.uint8)
    for start in range(0, n, 4096):  # bounded memory for large n
        end = min(start + 4096, n)
        clean = prototypes[y[start:end], dy[start:end], dx[start:end]] * gain[start:end]
        noisy = 255 * (clean + rng.normal(0, noise, clean.shape))
        x[start:end] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return x, y


def _synthetic_parts(like: str, wanted: dict, seed: int) -> dict:
    prototypes = _prototypes(like)
    sizes = {part: wanted[part] or SYNTHETIC_SIZES[part] for part in ("train", "val", "test")}
    return {
        part: _synthetic_part(prototypes, n, _rng(seed, f"synthetic {part}"))
        for part, n in sizes.items()
    }


def _synthetic_source(like: str, seed: int) -> str:
    h, w, c = INFO[like].shape
    return (
        f"synthetic data, NOT real data: noisy, shifted Gaussian-blob prototypes, one per class, "
        f"shaped like {INFO[like].title} ({h}x{w}x{c}, {len(INFO[like].class_names)} classes), "
        f"seed {seed}; no file was read"
    )


# ------------------------------------------------------- target functions (notebooks 06, 07)


def f1(x):
    """sin(5 pi x) / (5 pi x), with its limit 1 at x = 0."""
    x = np.asarray(x, dtype=np.float64)
    z = 5 * np.pi * x
    return np.where(z == 0, 1.0, np.sin(z) / np.where(z == 0, 1.0, z))


def f2(x):
    """sgn(sin(5 pi x)): a square wave of period 0.4 (0 exactly at the zeros of the sine)."""
    return np.sign(np.sin(5 * np.pi * np.asarray(x, dtype=np.float64)))


TARGET_FUNCTIONS = {"f1": f1, "f2": f2}


def function_samples(name, n_points=2000, low=-1.0, high=1.0):
    """(x, y) float32 arrays of shape (n_points, 1): `name` on an even grid of [low, high]."""
    if name not in TARGET_FUNCTIONS:
        raise ValueError(f"function must be one of {{{', '.join(TARGET_FUNCTIONS)}}}, got {name!r}")
    if not (_is_int(n_points) and n_points >= 2) or not low < high:
        raise ValueError(
            "need n_points >= 2 and low < high, "
            f"got n_points={n_points!r}, low={low!r}, high={high!r}"
        )
    x = np.linspace(low, high, int(n_points))[:, None]
    return x.astype("float32"), TARGET_FUNCTIONS[name](x).astype("float32")


# ------------------------------------------------------- random labels (notebook 08)


def shuffled_labels(y, seed=0):
    """A seeded random permutation of the labels `y`: every example gets another example's label, so
    each class keeps its count but a label no longer says anything about its image."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) < 2:
        raise ValueError(f"y must be a 1-D array of at least 2 labels, got shape {y.shape}")
    return y[_rng(seed, "shuffled_labels").permutation(len(y))]


def with_random_labels(ds: Dataset, seed=0) -> Dataset:
    """`ds` with its training labels shuffled (shuffled_labels); val and test labels stay true."""
    note = f"training labels randomly permuted (seed {seed}), validation and test labels true"
    return replace(ds, y_train=shuffled_labels(ds.y_train, seed), source=f"{ds.source}; {note}")
