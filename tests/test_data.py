"""Tests of labs_lib.data: file formats, checksums, downloads, safe extraction, splits, synthetic
data."""

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labs_lib import _data_sources as sources
from labs_lib import data
from labs_lib.data import ChecksumError, DatasetNotFoundError, load, read_idx, safe_extract

DEAD_URL = "http://127.0.0.1:9/"  # the discard port: refused at once, never waits on the network


# --------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {
        np.dtype("u1"): 0x08,
        np.dtype("i1"): 0x09,
        np.dtype(">i2"): 0x0B,
        np.dtype(">i4"): 0x0C,
        np.dtype(">f4"): 0x0D,
        np.dtype(">f8"): 0x0E,
    }
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = bytes([0, 0, codes[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_idx_dataset(folder: Path, n_train=100, n_test=20, seed=0) -> dict:
    """Small MNIST-like IDX files in `folder`; returns their arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for key, file in sources._IDX_FILES["mnist"].items():
        write_idx(folder / file.name, arrays[key])
    return arrays


def patch_mnist(monkeypatch, source: Path, urls=None, n_train=100, n_test=20):
    """Point the MNIST registry at fake files in `source`: their hashes, and optionally URLs."""
    files = {}
    for key, file in sources._IDX_FILES["mnist"].items():
        mirrors = tuple(u + file.name for u in urls) if urls is not None else file.urls
        files[key] = replace(file, sha256=sha256(source / file.name), urls=mirrors)
    monkeypatch.setitem(sources._IDX_FILES, "mnist", files)
    monkeypatch.setitem(sources._OFFICIAL_SIZES, "mnist", (n_train, n_test))


def no_downloads(monkeypatch):
    """Every registered URL refused at once."""
    for name, files in list(sources._IDX_FILES.items()):
        dead = {k: replace(f, urls=(DEAD_URL + f.name,)) for k, f in files.items()}
        monkeypatch.setitem(sources._IDX_FILES, name, dead)
    monkeypatch.setattr(
        sources,
        "_CIFAR_ARCHIVE",
        replace(sources._CIFAR_ARCHIVE, urls=(DEAD_URL + "cifar.tar.gz",)),
    )
    monkeypatch.setattr(
        sources,
        "_NOTMNIST_TARBALL",
        replace(sources._NOTMNIST_TARBALL, urls=(DEAD_URL + "nm.tar.gz",)),
    )
    monkeypatch.setattr(
        sources,
        "_GURMUKHI_ZIPS",
        {k: replace(f, urls=(DEAD_URL + f.name,)) for k, f in sources._GURMUKHI_ZIPS.items()},
    )


def leftovers(folder: Path) -> list:
    """Temporary files or folders a download or a rebuild might have left behind."""
    return [p for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def add_to_tar(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_parses_labels_and_images_gzipped_or_plain(tmp_path, gz):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    got_labels = read_idx(write_idx(tmp_path / "labels.idx", labels, gz))
    got_images = read_idx(write_idx(tmp_path / "images.idx", images, gz))
    assert got_labels.shape == (5,) and got_labels.dtype == np.uint8
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.shape == (2, 3, 4)
    np.testing.assert_array_equal(got_images, images)


def test_read_idx_converts_big_endian_values_to_native(tmp_path):
    values = np.array([[1, -2], [300000, 7]], dtype=np.int32)
    got = read_idx(write_idx(tmp_path / "ints.idx.gz", values))
    assert got.dtype == np.int32 and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_read_idx_rejects_wrong_magic_with_clear_error(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(ValueError, match=r"not an IDX file: magic number 0x12340801") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_rejects_truncated_data(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(idx_bytes(np.zeros((4, 2, 2), np.uint8))[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


# --------------------------------------------------------------------------- data directory


def test_data_dir_is_labs_data_dir_or_project_data(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path))
    assert data.data_dir() == tmp_path
    monkeypatch.delenv("LABS_DATA_DIR")
    assert data.data_dir() == data.PROJECT_ROOT / "data"


def test_load_reads_from_labs_data_dir_when_no_folder_is_given(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path / "mnist")
    patch_mnist(monkeypatch, tmp_path / "mnist")
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path))
    assert load("mnist").sizes() == {"train": 90, "val": 10, "test": 20}


# -------------------------------------------------------------------------- checksums and downloads


def test_wrong_file_raises_checksum_error_naming_file_and_both_hashes(tmp_path, monkeypatch):
    no_downloads(monkeypatch)
    bad = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"not the original file")
    with pytest.raises(ChecksumError) as err:
        load("mnist", data_dir=tmp_path)
    message = str(err.value)
    assert str(bad) in message
    assert sources._IDX_FILES["mnist"]["x_train"].sha256 in message
    assert hashlib.sha256(b"not the original file").hexdigest() in message
    assert (
        "delete it" in message and "storage.googleapis.com" not in message
    )  # patched URL named instead
    assert bad.read_bytes() == b"not the original file"  # never replaced behind the user's back


def test_mnist_loads_from_generated_idx_files_with_their_hashes(tmp_path, monkeypatch):
    arrays = fake_idx_dataset(tmp_path / "mnist")
    patch_mnist(monkeypatch, tmp_path / "mnist")
    ds = load("mnist", data_dir=tmp_path, normalize=False)
    assert ds.sizes() == {"train": 90, "val": 10, "test": 20}
    assert ds.x_train.shape == (90, 28, 28, 1) and ds.x_train.dtype == np.uint8
    assert ds.y_train.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(ds.y_val), np.ones(10))  # stratified: one per class
    np.testing.assert_array_equal(
        ds.x_test[..., 0], arrays["x_test"]
    )  # test keeps the official order
    assert "original IDX files from <data dir>/mnist" in ds.source  # no machine path
    assert str(tmp_path) not in ds.source


def test_missing_dataset_offline_raises_not_found_naming_folder_and_file(tmp_path, monkeypatch):
    no_downloads(monkeypatch)
    with pytest.raises(DatasetNotFoundError) as err:
        load("mnist", data_dir=tmp_path)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "mnist") in message
    assert DEAD_URL in message and "LABS_DATA_DIR" in message
    assert (
        leftovers(tmp_path) == []
        and not (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").exists()
    )


def test_missing_files_are_downloaded_from_the_next_mirror_and_kept(tmp_path, monkeypatch):
    source = tmp_path / "mirror"
    arrays = fake_idx_dataset(source)
    patch_mnist(monkeypatch, source, urls=[DEAD_URL, source.as_uri() + "/"])
    root = tmp_path / "data"
    ds = load("mnist", data_dir=root, normalize=False)
    assert ds.sizes() == {"train": 90, "val": 10, "test": 20}
    for file in sources._IDX_FILES["mnist"].values():
        assert (root / "mnist" / file.name).read_bytes() == (source / file.name).read_bytes()
    assert leftovers(root) == []
    np.testing.assert_array_equal(ds.x_test[..., 0], arrays["x_test"])


def test_downloaded_file_with_wrong_hash_is_not_kept(tmp_path, monkeypatch):
    source = tmp_path / "mirror"
    fake_idx_dataset(source)
    patch_mnist(monkeypatch, source, urls=[source.as_uri() + "/"])
    files = sources._IDX_FILES["mnist"]
    monkeypatch.setitem(files, "x_train", replace(files["x_train"], sha256="0" * 64))
    with pytest.raises(DatasetNotFoundError, match="hash"):
        load("mnist", data_dir=tmp_path / "data")
    assert not (tmp_path / "data" / "mnist" / files["x_train"].name).exists()
    assert leftovers(tmp_path / "data") == []


def test_missing_cifar10_names_both_accepted_files(tmp_path, monkeypatch):
    no_downloads(monkeypatch)
    with pytest.raises(DatasetNotFoundError) as err:
        load("cifar10", data_dir=tmp_path)
    message = str(err.value)
    assert "cifar-10-python.tar.gz" in message and "cifar10_offline.npz" in message
    assert str(tmp_path / "cifar10") in message


def test_missing_gurmukhi_says_where_to_put_the_npz(tmp_path, monkeypatch):
    no_downloads(monkeypatch)
    with pytest.raises(DatasetNotFoundError) as err:
        load("gurmukhi", data_dir=tmp_path)
    assert "gurmukhi_digits.npz" in str(err.value) and str(tmp_path / "gurmukhi") in str(err.value)


def test_npz_with_wrong_content_raises_checksum_error(tmp_path):
    path = tmp_path / "gurmukhi" / "gurmukhi_digits.npz"
    path.parent.mkdir()
    zeros = np.zeros((2, 32, 32), np.uint8)
    labels = np.zeros(2, np.uint8)
    np.savez_compressed(path, x_train=zeros, y_train=labels, x_val=zeros, y_val=labels)
    with pytest.raises(ChecksumError, match="wrong SHA-256") as err:
        load("gurmukhi", data_dir=tmp_path)
    assert str(path) in str(err.value) and sources._GURMUKHI_NPZ.sha256 in str(err.value)


def fake_cifar_archive(path: Path, per_batch=10) -> dict:
    """A cifar-10-python.tar.gz with tiny batches; returns {batch: md5}."""
    rng = np.random.default_rng(1)
    md5 = {}
    with tarfile.open(path, "w:gz") as tar:
        for batch in sources._CIFAR_BATCH_MD5:
            entry = {
                b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                b"labels": [i % 10 for i in range(per_batch)],
            }
            payload = pickle.dumps(entry)
            md5[batch] = hashlib.md5(payload).hexdigest()
            add_to_tar(tar, f"cifar-10-batches-py/{batch}", payload)
    return md5


def test_cifar10_canonical_archive_is_preferred_extracted_once_and_reused(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    md5 = fake_cifar_archive(folder / "cifar-10-python.tar.gz")
    (folder / "cifar10_offline.npz").write_bytes(b"would fail its checksum if it were read")
    archive_hash = sha256(folder / "cifar-10-python.tar.gz")
    monkeypatch.setattr(
        sources, "_CIFAR_ARCHIVE", replace(sources._CIFAR_ARCHIVE, sha256=archive_hash)
    )
    monkeypatch.setattr(sources, "_CIFAR_BATCH_MD5", md5)
    monkeypatch.setitem(sources._OFFICIAL_SIZES, "cifar10", (50, 10))
    first = load("cifar10", data_dir=tmp_path, val_split=0.2)
    assert first.sizes() == {"train": 40, "val": 10, "test": 10}
    assert first.x_train.shape == (40, 32, 32, 3) and "canonical" in first.source
    assert (folder / "cifar-10-batches-py" / "test_batch").is_file() and leftovers(folder) == []
    (folder / "cifar-10-python.tar.gz").unlink()  # the extracted batches are enough now
    second = load("cifar10", data_dir=tmp_path, val_split=0.2)
    np.testing.assert_array_equal(first.x_train, second.x_train)


# --------------------------------------------------------------------------- safe_extract


def tar_with(tmp_path: Path, name: str, link: str | None = None) -> Path:
    path = tmp_path / "archive.tar"
    with tarfile.open(path, "w") as tar:
        add_to_tar(tar, "fine.txt", b"ok")
        if link is None:
            add_to_tar(tar, name, b"evil")
        else:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
    return path


@pytest.mark.parametrize(
    "name, link",
    [
        ("../evil.txt", None),
        ("/tmp/labs-data-test-evil.txt", None),
        ("sub/../../evil.txt", None),
        ("link", "/etc/passwd"),
        ("link", "../../outside"),
    ],
)
def test_safe_extract_refuses_tar_members_escaping_dest(tmp_path, name, link):
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match="refusing to extract") as err:
        safe_extract(tar_with(tmp_path, name, link), dest)
    assert repr(name) in str(err.value)
    assert not dest.exists()  # refused before anything was written
    assert (
        not (tmp_path / "evil.txt").exists() and not Path("/tmp/labs-data-test-evil.txt").exists()
    )


def test_safe_extract_refuses_zip_with_dotdot(tmp_path):
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr("../evil.txt", "evil")
    with pytest.raises(ValueError, match=r"'\.\./evil\.txt'"):
        safe_extract(path, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_safe_extract_extracts_normal_tar_gz_and_zip(tmp_path):
    tgz, zpath = tmp_path / "a.tar.gz", tmp_path / "a.zip"
    with tarfile.open(tgz, "w:gz") as tar:
        add_to_tar(tar, "top/inner/file.txt", b"tar")
        info = tarfile.TarInfo("top/link")
        info.type, info.linkname = tarfile.SYMTYPE, "inner/file.txt"
        tar.addfile(info)
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("top/inner/file.txt", "zip")
    assert safe_extract(tgz, tmp_path / "t") == tmp_path / "t"
    assert (tmp_path / "t" / "top" / "inner" / "file.txt").read_bytes() == b"tar"
    assert (tmp_path / "t" / "top" / "link").read_bytes() == b"tar"
    safe_extract(zpath, tmp_path / "z")
    assert (tmp_path / "z" / "top" / "inner" / "file.txt").read_bytes() == b"zip"


def test_safe_extract_rejects_other_files(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("neither tar nor zip")
    with pytest.raises(ValueError, match="tar or zip"):
        safe_extract(path, tmp_path / "out")


# --------------------------------------------------------------------------- notMNIST rebuild


def fake_notmnist_tarball(path: Path) -> list:
    """notMNIST_small.tar.gz with 3 PNGs per letter, a 0-byte and a broken file; returns the
    readable rows."""
    rng = np.random.default_rng(2)
    rows = []
    with tarfile.open(path, "w:gz") as tar:
        for letter in "JIHGFEDCBA":  # stored out of order: the converter sorts
            for stem in ("c29tZQ==", "QmFy", "Zm9v"):
                pixels = rng.integers(0, 256, (28, 28), dtype=np.uint8)
                add_to_tar(tar, f"notMNIST_small/{letter}/{stem}.png", png_bytes(pixels))
                rows.append((letter, f"{stem}.png", pixels))
        add_to_tar(tar, "notMNIST_small/A/RW1wdHk=.png", b"")  # 0-byte, as in the original
        add_to_tar(tar, "notMNIST_small/F/YnJva2Vu.png", b"\x89PNG broken")
    return sorted(rows, key=lambda r: r[:2])


def test_notmnist_rebuild_sorts_by_class_then_name_and_skips_empty_files(tmp_path, monkeypatch):
    rows = fake_notmnist_tarball(tmp_path / "notMNIST_small.tar.gz")
    x = np.stack([r[2] for r in rows])
    y = np.array(["ABCDEFGHIJ".index(r[0]) for r in rows], np.uint8)
    monkeypatch.setattr(
        sources,
        "_NOTMNIST_CONTENT",
        {
            "x": hashlib.sha256(x.tobytes()).hexdigest(),
            "y": hashlib.sha256(y.tobytes()).hexdigest(),
        },
    )
    arrays = sources._notmnist_from_tarball(tmp_path / "notMNIST_small.tar.gz")
    assert arrays["x"].shape == (30, 28, 28) and arrays["x"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["x"], x)
    np.testing.assert_array_equal(arrays["y"], np.repeat(np.arange(10), 3))
    assert list(arrays["filenames"][:3]) == ["A/QmFy.png", "A/Zm9v.png", "A/c29tZQ==.png"]
    assert (
        "A/RW1wdHk=.png" not in arrays["filenames"] and "F/YnJva2Vu.png" not in arrays["filenames"]
    )


def test_notmnist_rebuild_with_wrong_content_raises_checksum_error(tmp_path):
    fake_notmnist_tarball(tmp_path / "notMNIST_small.tar.gz")
    with pytest.raises(ChecksumError, match="do not match the published content") as err:
        sources._notmnist_from_tarball(tmp_path / "notMNIST_small.tar.gz")
    assert sources._NOTMNIST_CONTENT["x"] in str(err.value)


def test_notmnist_load_rebuilds_the_npz_atomically_and_reuses_it(tmp_path, monkeypatch):
    folder = tmp_path / "notmnist"
    folder.mkdir()
    rows = fake_notmnist_tarball(folder / "notMNIST_small.tar.gz")
    x = np.stack([r[2] for r in rows])
    y = np.array(["ABCDEFGHIJ".index(r[0]) for r in rows], np.uint8)
    monkeypatch.setattr(
        sources,
        "_NOTMNIST_CONTENT",
        {
            "x": hashlib.sha256(x.tobytes()).hexdigest(),
            "y": hashlib.sha256(y.tobytes()).hexdigest(),
        },
    )
    monkeypatch.setitem(sources._OFFICIAL_SIZES, "notmnist", (30, None))
    first = load("notmnist", data_dir=tmp_path, val_split=0.2)
    assert first.sizes() == {"train": 22, "val": 5, "test": 3}
    assert (folder / "notmnist_small.npz").is_file() and leftovers(folder) == []
    assert "rebuilt from" in first.source
    (folder / "notMNIST_small.tar.gz").unlink()
    second = load(
        "notmnist", data_dir=tmp_path, val_split=0.2
    )  # the rebuilt npz, checked by content
    np.testing.assert_array_equal(first.x_train, second.x_train)


# --------------------------------------------------------------------------- splits and arguments


def test_stratified_holdout_takes_exact_total_and_each_class_share():
    y = np.repeat(np.arange(10), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    kept, held = data._stratified_holdout(y, 0.1, np.random.default_rng(0))
    assert len(held) == 6000 and len(kept) == 54000
    assert np.intersect1d(kept, held).size == 0
    assert np.all(np.abs(np.bincount(y[held]) - 0.1 * np.bincount(y)) < 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "imagenet"}, r"name must be one of .*'mnist'.*got 'imagenet'"),
        ({"name": "synthetic", "like": "svhn"}, r"like must be one of .*got 'svhn'"),
        ({"val_split": 0}, r"val_split must be a float in \(0, 1\), got 0"),
        ({"val_split": 1.5}, r"val_split must be a float in \(0, 1\), got 1.5"),
        ({"n_train": 0}, r"n_train must be a positive int or None \(all\), got 0"),
        ({"n_val": -3}, r"n_val must be a positive int or None \(all\), got -3"),
        ({"n_test": 2.5}, r"got 2.5"),
        ({"seed": -1}, r"seed must be a non-negative int, got -1"),
        ({"n_train": 54001}, r"n_train=54001 is larger than the 54000 train examples of mnist"),
        (
            {"name": "gurmukhi", "n_test": 1},
            r"n_test=1 is larger than the 0 test examples of gurmukhi",
        ),
        ({"val_split": 1e-9}, r"val_split=1e-09 leaves no val examples"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_value_before_reading(
    tmp_path, monkeypatch, kwargs, match
):
    monkeypatch.setattr(
        data, "READERS", {}
    )  # any file access would be a KeyError, not a ValueError
    kwargs = {"name": "mnist", **kwargs}
    with pytest.raises(ValueError, match=match):
        load(kwargs.pop("name"), data_dir=tmp_path, **kwargs)


# --------------------------------------------------------------------------- synthetic


def test_synthetic_same_seed_gives_identical_arrays():
    a, b = load("synthetic", seed=3, n_train=300), load("synthetic", seed=3, n_train=300)
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert getattr(a, part).tobytes() == getattr(b, part).tobytes()


def test_synthetic_different_seed_gives_different_samples_around_the_same_prototypes():
    a, b = load("synthetic", seed=0), load("synthetic", seed=1)
    assert not np.array_equal(a.x_train, b.x_train)
    mean_a = np.stack([a.x_train[a.y_train == k].mean(axis=0) for k in range(10)])
    mean_b = np.stack([b.x_train[b.y_train == k].mean(axis=0) for k in range(10)])
    assert (
        np.abs(mean_a - mean_b).max() < 0.1
    )  # class means agree: the prototypes do not depend on seed


@pytest.mark.parametrize(
    "like, shape",
    [
        ("mnist", (28, 28, 1)),
        ("fashion_mnist", (28, 28, 1)),
        ("notmnist", (28, 28, 1)),
        ("cifar10", (32, 32, 3)),
        ("gurmukhi", (32, 32, 1)),
    ],
)
def test_synthetic_shapes_follow_like(like, shape):
    ds = load("synthetic", like=like, n_train=50, n_val=20, n_test=10)
    assert (
        ds.x_train.shape == (50, *shape)
        and ds.x_val.shape == (20, *shape)
        and ds.x_test.shape == (10, *shape)
    )
    assert ds.class_names == data.INFO[like].class_names and ds.like == like


def test_synthetic_flatten_and_normalize():
    flat = load("synthetic", like="cifar10", n_train=40, flatten=True)
    raw = load("synthetic", like="cifar10", n_train=40, normalize=False)
    assert flat.x_train.shape == (40, 32 * 32 * 3) and flat.x_train.dtype == np.float32
    assert 0 <= flat.x_train.min() and flat.x_train.max() <= 1
    assert raw.x_train.dtype == np.uint8 and raw.x_train.shape == (40, 32, 32, 3)
    np.testing.assert_array_equal(flat.x_train, raw.x_train.reshape(40, -1) / np.float32(255))


def test_synthetic_labels_cover_all_classes_with_default_sizes():
    ds = load("synthetic")
    assert ds.sizes() == {"train": 2000, "val": 500, "test": 500}
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert y.dtype == np.int32 and set(np.unique(y)) == set(range(10))


def test_synthetic_says_it_is_not_real_data():
    ds = load("synthetic", like="gurmukhi", n_train=20)
    assert ds.synthetic and ds.name == "synthetic"
    assert ds.title == "synthetic data (Gurmukhi digits-shaped stand-in, not real data)"
    assert "NOT real data" in ds.source and "synthetic" in ds.summary().lower()


def test_synthetic_validation_set_does_not_change_with_n_train():
    a, b = load("synthetic", n_train=100), load("synthetic", n_train=700)
    np.testing.assert_array_equal(a.x_val, b.x_val)


def test_synthetic_is_learnable_by_nearest_class_mean():
    ds = load("synthetic", flatten=True)
    means = np.stack([ds.x_train[ds.y_train == k].mean(axis=0) for k in range(10)])
    predicted = np.argmin(((ds.x_val[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    accuracy = (predicted == ds.y_val).mean()
    assert 0.6 < accuracy < 1.0  # well above chance (0.1), not perfect


def test_summary_lists_title_source_sizes_and_range():
    text = load("synthetic", n_train=30, n_val=10, n_test=10).summary()
    assert "train 30, val 10, test 10" in text and "float32" in text and "range [0" in text


# --------------------------------------------------------------------------- real data

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.realdata
def test_real_mnist_sizes_and_class_counts(real_data):
    ds = load("mnist", data_dir=real_data)
    assert ds.sizes() == {"train": 54000, "val": 6000, "test": 10000}
    assert ds.x_train.shape == (54000, 28, 28, 1) and ds.x_train.dtype == np.float32
    np.testing.assert_array_equal(
        np.bincount(ds.y_train) + np.bincount(ds.y_val), MNIST_TRAIN_COUNTS
    )
    np.testing.assert_array_equal(np.bincount(ds.y_test), MNIST_TEST_COUNTS)
    assert np.all(np.abs(np.bincount(ds.y_val) - 0.1 * np.array(MNIST_TRAIN_COUNTS)) < 1)


@pytest.mark.realdata
def test_real_mnist_train_subset_leaves_validation_unchanged_and_is_deterministic(real_data):
    full = load("mnist", data_dir=real_data, normalize=False, n_test=500)
    small = load("mnist", data_dir=real_data, normalize=False, n_train=12000, n_test=500)
    again = load("mnist", data_dir=real_data, normalize=False, n_train=12000, n_test=500)
    assert small.sizes() == {"train": 12000, "val": 6000, "test": 500}
    assert small.x_val.tobytes() == full.x_val.tobytes()
    assert small.x_train.tobytes() == again.x_train.tobytes()
    np.testing.assert_array_equal(small.x_train, full.x_train[:12000])  # smaller subsets are nested
    assert "train subset 12000 of 54000" in small.source and small.x_train.dtype == np.uint8


@pytest.mark.realdata
def test_real_fashion_mnist_loads(real_data):
    ds = load("fashion_mnist", data_dir=real_data, flatten=True, n_train=1000)
    assert ds.sizes() == {"train": 1000, "val": 6000, "test": 10000}
    assert ds.x_train.shape == (1000, 784) and ds.class_names[0] == "T-shirt/top"
    np.testing.assert_array_equal(np.bincount(ds.y_test), [1000] * 10)


@pytest.mark.realdata
def test_real_notmnist_split_is_stratified_and_seeded(real_data):
    a = load("notmnist", data_dir=real_data, normalize=False)
    b = load("notmnist", data_dir=real_data, normalize=False)
    c = load("notmnist", data_dir=real_data, normalize=False, seed=1)
    assert a.sizes() == {"train": 15167, "val": 1685, "test": 1872}
    counts = [1872, 1873, 1873, 1873, 1873, 1872, 1872, 1872, 1872, 1872]
    np.testing.assert_array_equal(
        np.bincount(a.y_train) + np.bincount(a.y_val) + np.bincount(a.y_test), counts
    )
    assert np.bincount(a.y_test).min() >= 187 and np.bincount(a.y_test).max() <= 188
    assert a.x_test.tobytes() == b.x_test.tobytes() and a.x_val.tobytes() == b.x_val.tobytes()
    assert a.x_test.tobytes() != c.x_test.tobytes()
    assert len(set(a.y_test[:50])) > 5  # shuffled, not sorted by class


@pytest.mark.realdata
def test_real_notmnist_rebuild_writes_the_published_file(real_data, tmp_path):
    with np.load(real_data / "notmnist" / "notmnist_small.npz") as npz:
        rows = [
            (str(name)[0], str(name)[2:], pixels)
            for name, pixels in zip(npz["filenames"], npz["x"])
        ]
    sources._save_npz(tmp_path / "notmnist_small.npz", sources._notmnist_arrays(rows))
    assert sha256(tmp_path / "notmnist_small.npz") == sources._NOTMNIST_NPZ.sha256


@pytest.mark.realdata
def test_real_gurmukhi_uses_own_split_and_is_inverted(real_data):
    ds = load("gurmukhi", data_dir=real_data, val_split=0.3)
    assert ds.sizes() == {"train": 1000, "val": 178, "test": 0}
    assert ds.x_test.shape == (0, 32, 32, 1)
    assert (
        ds.x_train[:, 0, 0, 0].mean() < 0.05 and ds.x_train.mean() < 0.5
    )  # background 0, ink bright
    np.testing.assert_array_equal(np.bincount(ds.y_val), [18, 16, 17, 17, 18, 18, 18, 18, 18, 20])
    assert "inverted" in ds.source


@pytest.mark.realdata
def test_real_gurmukhi_rebuilds_from_the_original_zips(real_data, tmp_path, monkeypatch):
    with np.load(real_data / "gurmukhi" / "gurmukhi_digits.npz") as npz:
        real = {k: npz[k] for k in npz.files}
    folder = tmp_path / "gurmukhi"
    folder.mkdir()
    for split in ("train", "val"):
        with zipfile.ZipFile(folder / f"{split}.zip", "w") as zf:
            for pixels, name in zip(real[f"x_{split}"], real[f"filenames_{split}"]):
                buffer = io.BytesIO()
                fmt = "TIFF" if name.endswith(".tiff") else "BMP"
                Image.fromarray(pixels).convert("1", dither=Image.Dither.NONE).save(
                    buffer, format=fmt
                )
                zf.writestr(str(name), buffer.getvalue())
        monkeypatch.setitem(
            sources._GURMUKHI_ZIPS,
            split,
            replace(sources._GURMUKHI_ZIPS[split], sha256=sha256(folder / f"{split}.zip")),
        )
    rebuilt = load("gurmukhi", data_dir=tmp_path)  # real content hashes check the conversion
    original = load("gurmukhi", data_dir=real_data)
    assert rebuilt.x_train.tobytes() == original.x_train.tobytes()
    assert rebuilt.x_val.tobytes() == original.x_val.tobytes()
    assert (
        sha256(folder / "gurmukhi_digits.npz") == sources._GURMUKHI_NPZ.sha256
    )  # the published file, rebuilt
    assert leftovers(folder) == []


@pytest.mark.realdata
def test_real_cifar10_offline_copy_sizes_and_source(real_data):
    if sources._cifar_kind(real_data) != "offline":
        pytest.skip("the data directory holds the canonical CIFAR-10, not the offline copy")
    ds = load("cifar10", data_dir=real_data, normalize=False)
    assert ds.sizes() == {"train": 45000, "val": 5000, "test": 1000}
    assert ds.x_train.shape == (45000, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert "first 1000 of the 10000" in ds.source
    np.testing.assert_array_equal(np.bincount(ds.y_train) + np.bincount(ds.y_val), [5000] * 10)
    np.testing.assert_array_equal(
        np.bincount(ds.y_test), [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]
    )


def test_function_samples_are_the_target_functions_on_an_even_grid():
    x, y = data.function_samples("f1", 201)
    assert x.shape == y.shape == (201, 1) and x.dtype == np.float32
    assert x[0, 0] == -1 and x[-1, 0] == 1 and y[100, 0] == 1.0  # f1(0) = 1, its limit
    np.testing.assert_allclose(y[150, 0], np.sin(2.5 * np.pi) / (2.5 * np.pi), rtol=1e-6)
    _, square = data.function_samples("f2", 201)
    assert (
        set(np.unique(square)) <= {-1.0, 0.0, 1.0}
        and square[110, 0] == 1.0
        and square[130, 0] == -1.0
    )
    with pytest.raises(ValueError, match="function must be one of {f1, f2}, got 'f3'"):
        data.function_samples("f3")


def test_random_labels_are_a_seeded_permutation_that_keeps_the_label_histogram():
    y = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 140]).astype("int32")
    shuffled = data.shuffled_labels(y, seed=3)
    np.testing.assert_array_equal(np.bincount(shuffled, minlength=10), np.bincount(y, minlength=10))
    np.testing.assert_array_equal(np.sort(shuffled), np.sort(y))
    assert 0.8 < (shuffled != y).mean() < 0.95  # about 1 - sum p_k^2 of the labels change
    np.testing.assert_array_equal(shuffled, data.shuffled_labels(y, seed=3))
    assert not np.array_equal(shuffled, data.shuffled_labels(y, seed=4))
    with pytest.raises(
        ValueError, match="y must be a 1-D array of at least 2 labels, got shape \\(1,\\)"
    ):
        data.shuffled_labels(np.array([1]))


def test_with_random_labels_shuffles_training_labels_only():
    ds = data.load("synthetic", like="mnist", n_train=200, n_val=50, n_test=50, seed=0)
    noisy = data.with_random_labels(ds, seed=1)
    np.testing.assert_array_equal(noisy.x_train, ds.x_train)
    np.testing.assert_array_equal(noisy.y_val, ds.y_val)
    np.testing.assert_array_equal(noisy.y_test, ds.y_test)
    assert not np.array_equal(noisy.y_train, ds.y_train)
    assert "randomly permuted" in noisy.source
