"""Where the datasets come from (private to labs_lib.data): the registry of files with their
published SHA-256, downloads through `keras.utils.get_file`, checks, and a reader per dataset that
turns its files into arrays.

`labs_lib.data.load` is the way in; nothing here is needed to follow the notebooks.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from labs_lib.shared.files import atomic_write

# notMNIST has no official test set: this stratified share of it is held out.
NOTMNIST_TEST_FRACTION = 0.1


class ChecksumError(ValueError):
    """A data file whose SHA-256 (or decoded content) does not match the published one."""


class DatasetNotFoundError(FileNotFoundError):
    """A data file that is neither in the data directory nor downloadable."""


# ------------------------------------------------------- registry


@dataclass(frozen=True)
class _Info:
    title: str
    shape: tuple[int, int, int]
    class_names: tuple[str, ...]


_DIGITS = tuple("0123456789")
INFO = {
    "mnist": _Info("MNIST", (28, 28, 1), _DIGITS),
    "fashion_mnist": _Info(
        "Fashion-MNIST",
        (28, 28, 1),
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
    "cifar10": _Info(
        "CIFAR-10",
        (32, 32, 3),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
    "notmnist": _Info("notMNIST", (28, 28, 1), tuple("ABCDEFGHIJ")),
    "gurmukhi": _Info("Gurmukhi digits", (32, 32, 1), _DIGITS),
}

#: Examples in each official part: (train, test); None = no official test set.
_OFFICIAL_SIZES = {
    "mnist": (60000, 10000),
    "fashion_mnist": (60000, 10000),
    "cifar10": (50000, 10000),
    "notmnist": (18724, None),
    "gurmukhi": (1000, 178),  # gurmukhi: (train, val), no test set
}
_CIFAR_OFFLINE_TEST_SIZE = 1000


@dataclass(frozen=True)
class _File:
    subdir: str  # folder inside the data directory
    name: str  # file name there
    sha256: str | None  # None: no published file hash (checked by content instead)
    urls: tuple[str, ...] = ()  # mirrors, tried in turn


def _mirrored(subdir, name, sha256, mirrors):
    return _File(subdir, name, sha256, tuple(m + name for m in mirrors))


_MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

#: The four IDX files of each IDX dataset, keyed by part.
_IDX_FILES = {
    "mnist": {
        "x_train": _mirrored(
            "mnist",
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            _MNIST_MIRRORS,
        ),
        "y_train": _mirrored(
            "mnist",
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            _MNIST_MIRRORS,
        ),
        "x_test": _mirrored(
            "mnist",
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            _MNIST_MIRRORS,
        ),
        "y_test": _mirrored(
            "mnist",
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            _MNIST_MIRRORS,
        ),
    },
    "fashion_mnist": {
        "x_train": _mirrored(
            "fashion-mnist",
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            _FASHION_MIRRORS,
        ),
        "y_train": _mirrored(
            "fashion-mnist",
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            _FASHION_MIRRORS,
        ),
        "x_test": _mirrored(
            "fashion-mnist",
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            _FASHION_MIRRORS,
        ),
        "y_test": _mirrored(
            "fashion-mnist",
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            _FASHION_MIRRORS,
        ),
    },
}

_CIFAR_ARCHIVE = _File(
    "cifar10",
    "cifar-10-python.tar.gz",
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
)
_CIFAR_OFFLINE = _File(
    "cifar10",
    "cifar10_offline.npz",
    "b2103a8055fc5c80f2291f9130265c59d509e45091ee44f41b8c91f22037ac88",
)
_CIFAR_BATCHES_DIR = "cifar-10-batches-py"
#: MD5 of the extracted pickles, as published by torchvision (no SHA-256 is published for them).
_CIFAR_BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}

_NOTMNIST_NPZ = _File(
    "notmnist",
    "notmnist_small.npz",
    "a1311a8109cdee3ee69dd1369cd1cf6c7de30e5ab2501e3c65dbc35f72591553",
)
_NOTMNIST_TARBALL = _File(
    "notmnist",
    "notMNIST_small.tar.gz",
    None,
    (
        "http://yaroslavvb.com/upload/notMNIST/notMNIST_small.tar.gz",
        "https://commondatastorage.googleapis.com/books1000/notMNIST_small.tar.gz",
    ),
)
#: SHA-256 of the raw bytes of the arrays in notmnist_small.npz.
_NOTMNIST_CONTENT = {
    "x": "684045a54aeca0b807dae5e3039613aa8a3a8b35c33d412ce14e920d8fa2a77f",
    "y": "8f1264be132dd2d89765388d184fff7474715660255c4c22e46f6885f97f59fa",
}

_GURMUKHI_NPZ = _File(
    "gurmukhi",
    "gurmukhi_digits.npz",
    "d01996f152815f46213fd9540b7de76fea73fe61c15c3c9be20bf808e3106163",
)
_GURMUKHI_REPO = (
    "https://raw.githubusercontent.com/revantteotia/gurumukhi-digit-classification/"
    "4e092c02070490ff87cf50bf5534b41d71c27175/gurumukhi_digits_dataset/"
)
#: The dataset's own zips (a GitHub copy; no canonical URL exists), keyed by split.
_GURMUKHI_ZIPS = {
    "train": _mirrored(
        "gurmukhi",
        "train.zip",
        "e31f4ee15538f89e3c3a30a9806c57223c504a9b2306d1c9a6aea4745ea90b5c",
        (_GURMUKHI_REPO,),
    ),
    "val": _mirrored(
        "gurmukhi",
        "val.zip",
        "0b3706819f4941ff09eac53fbeb92dc79efd102b45b2d973da0489e65c5b8729",
        (_GURMUKHI_REPO,),
    ),
}
_GURMUKHI_CONTENT = {
    "x_train": "9c64b2ac8d133867000dfd2689fdadc09965fd1a4362b0e55f11342b82dbfa61",
    "y_train": "19cab774765c7ba7873e2eb3cee313c084bbb20b53116334dd0e24cd06e8d4e5",
    "x_val": "7065b1fb865d91470cb7196d8fbb4c7be3b44a84fdf2295981d61140412808b9",
    "y_val": "1b5f131331c0888bb00f75299b299921d5aab214371b083b7400ceb31c27abfb",
}

_LAYOUT_HINT = (
    "subfolders mnist/, fashion-mnist/, cifar10/, notmnist/, gurmukhi/; "
    "data/README.md lists the files"
)


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), in native byte order."""
    path = Path(path)
    return _parse_idx(path.read_bytes(), str(path))


def safe_extract(archive, dest) -> Path:
    """Extract a tar or zip archive into `dest`, refusing any member that would land outside it."""
    archive, dest = Path(archive), Path(dest)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                _check_tar_member(member, archive)
            dest.mkdir(parents=True, exist_ok=True)
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, **kwargs)
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                _check_member_path(name, archive)
            dest.mkdir(parents=True, exist_ok=True)
            zf.extractall(dest)
    else:
        raise ValueError(
            f"archive must be a tar or zip file, got {archive} (neither format recognised)"
        )
    return dest


def _escapes(name: str) -> bool:
    """Whether an archive member name is absolute or climbs out of the extraction folder."""
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        return True
    parts = []
    for part in PurePosixPath(name.replace("\\", "/")).parts:
        if part == "..":
            if not parts:
                return True
            parts.pop()
        elif part != ".":
            parts.append(part)
    return False


def _check_member_path(name: str, archive: Path) -> None:
    if _escapes(name):
        raise ValueError(
            f"refusing to extract {archive}: member {name!r} would be written outside "
            "the destination (absolute path or '..'); only relative paths inside it are allowed"
        )


def _check_tar_member(member: tarfile.TarInfo, archive: Path) -> None:
    _check_member_path(member.name, archive)
    if member.issym():
        target = str(PurePosixPath(member.name).parent / member.linkname)
        if member.linkname.startswith("/") or _escapes(target):
            raise ValueError(
                f"refusing to extract {archive}: link {member.name!r} points outside the "
                f"destination, to {member.linkname!r}"
            )
    elif member.islnk() and _escapes(member.linkname):
        raise ValueError(
            f"refusing to extract {archive}: hard link {member.name!r} points outside the "
            f"destination, to {member.linkname!r}"
        )
    elif not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise ValueError(
            f"refusing to extract {archive}: member {member.name!r} is a device or fifo; "
            "only files, folders and links inside the destination are allowed"
        )


# ------------------------------------------------------- sizes


def held_count(fraction: float, n: int) -> int:
    """How many of n examples a stratified hold-out of `fraction` takes."""
    return int(round(fraction * n))


def available_sizes(name, val_split, root: Path) -> dict[str, int]:
    """Examples in each part before subsets, known from the published sizes (no file is read)."""
    if name == "gurmukhi":
        n_train, n_val = _OFFICIAL_SIZES[name]
        return {"train": n_train, "val": n_val, "test": 0}
    n_full, n_test = _OFFICIAL_SIZES[name]
    if name == "notmnist":
        n_test = held_count(NOTMNIST_TEST_FRACTION, n_full)
        n_full -= n_test
    elif name == "cifar10" and _cifar_kind(root) == "offline":
        n_test = _CIFAR_OFFLINE_TEST_SIZE
    n_val = held_count(val_split, n_full)
    return {"train": n_full - n_val, "val": n_val, "test": n_test}


# ------------------------------------------------------- files: checks and downloads


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fix_hint(file: _File) -> str:
    if file.urls:
        return (
            f"delete it to download it again, or replace it with the original from {file.urls[0]}"
        )
    return "replace it with the original (shared/data holds one; data/README.md describes it)"


def _checksum_error(path: Path, file: _File, actual: str) -> ChecksumError:
    return ChecksumError(
        f"{path} has the wrong SHA-256, so it was not used: expected {file.sha256}, got {actual}. "
        f"The file is damaged, truncated or a different version; {_fix_hint(file)}."
    )


def _verified_bytes(file: _File, root: Path, instead: str = "") -> tuple[bytes, Path]:
    """The bytes of a data file (downloaded if missing) whose SHA-256 matches the published one."""
    path = root / file.subdir / file.name
    if not path.is_file():
        path = _download(file, root, instead=instead)  # get_file has checked the hash
        return path.read_bytes(), path
    data = path.read_bytes()
    actual = _sha256(data)
    if actual != file.sha256:
        raise _checksum_error(path, file, actual)
    return data, path


def _check_file(path: Path, file: _File) -> None:
    actual = _sha256_file(path)
    if actual != file.sha256:
        raise _checksum_error(path, file, actual)


def _short(exc: BaseException, url: str = "") -> str:
    """The gist of an error, one short line (keras repeats the URL: drop it)."""
    text = (str(exc).strip().splitlines() or [""])[0]
    text = text.replace(f"URL fetch failure on {url}: ", "").removeprefix("None -- ")
    text = text if len(text) <= 90 else text[:87] + "..."
    kind = "" if type(exc) is Exception else f"{type(exc).__name__}: "
    return f"{kind}{text}" if text else type(exc).__name__


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _download(file: _File, root: Path, *, instead: str = "") -> Path:
    """Path of `file` fetched from its mirrors in turn; DatasetNotFoundError when none works."""
    folder = root / file.subdir
    tried = []
    for url in file.urls:
        try:
            return _get_file(file, url, root)
        except Exception as exc:  # any failure of a mirror: try the next one
            tried.append(f"{url} ({_short(exc, url)})")
    how = f"downloading failed: tried {'; '.join(tried)}" if tried else "it has no download URL"
    raise DatasetNotFoundError(
        f"{file.name} is missing from {folder} and {how}. "
        f"Put the file at {folder / file.name}{instead}, or set LABS_DATA_DIR to a folder laid out "
        f"like shared/data ({_LAYOUT_HINT})."
    )


def _get_file(file: _File, url: str, root: Path) -> Path:
    """Download with keras.utils.get_file through a temporary folder, so a cut leaves nothing."""
    import keras  # only here: a download is the one place the data module needs Keras

    folder = root / file.subdir
    if not _writable(folder):  # read-only data directory: keras falls back to its cache under /tmp
        return Path(
            keras.utils.get_file(
                file.name, url, file_hash=file.sha256, cache_dir=str(root), cache_subdir=file.subdir
            )
        )
    partial = Path(tempfile.mkdtemp(prefix=f".{file.name}.", suffix=".part", dir=folder))
    try:
        got = keras.utils.get_file(
            file.name,
            url,
            file_hash=file.sha256,
            cache_dir=str(root),
            cache_subdir=str(partial.relative_to(root)),
        )
        target = folder / file.name
        os.replace(got, target)
        return target
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _save_npz(path: Path, arrays: dict) -> None:
    """np.savez_compressed, written atomically (temporary name, then rename)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


def _content_mismatches(arrays: dict, expected: dict) -> dict[str, str]:
    """{array name: actual sha256} for each array whose raw bytes differ from the published hash."""
    actual = {k: _sha256(np.ascontiguousarray(arrays[k]).tobytes()) for k in expected}
    return {k: v for k, v in actual.items() if v != expected[k]}


def _verified_npz(file: _File, root: Path, content: dict) -> tuple[dict, Path]:
    """Arrays of an npz present in the data directory, checked by file hash, else by content hashes.

    A file rebuilt here (from the original images) holds the published arrays but may differ in
    its zip bytes (another zlib); its content hashes identify it.
    """
    path = root / file.subdir / file.name
    data = path.read_bytes()
    actual = _sha256(data)
    if actual == file.sha256:
        return _npz_arrays(data), path
    try:
        arrays = _npz_arrays(data)
    except Exception:  # not even an npz: report the file hash
        raise _checksum_error(path, file, actual) from None
    if set(content) <= set(arrays) and not _content_mismatches(arrays, content):
        return arrays, path
    raise _checksum_error(path, file, actual)


def _npz_arrays(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


# ------------------------------------------------------- IDX

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _parse_idx(raw: bytes, where: str) -> np.ndarray:
    """The array in the bytes of an IDX file: magic 00 00 <type> <ndim>, big-endian dims, data."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{where} is not a readable gzip file ({_short(exc)})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise ValueError(
            f"{where} is not an IDX file: magic number 0x{raw[:4].hex()}, "
            "expected 0x0000TTNN with type TT in {08, 09, 0b, 0c, 0d, 0e} and NN >= 1 dims "
            "(0x00000801 labels, 0x00000803 images)"
        )
    ndim, dtype = raw[3], np.dtype(_IDX_DTYPES[raw[2]])
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header]) if len(raw) >= header else ()
    size = int(np.prod(dims, dtype=np.int64)) if dims else 0
    if not dims or len(raw) != header + size * dtype.itemsize:
        raise ValueError(
            f"{where} is truncated or has extra bytes: its header gives dims {dims} of "
            f"{dtype.itemsize}-byte values, the file holds {max(len(raw) - header, 0)} data bytes"
        )
    return (
        np.frombuffer(raw, dtype, count=size, offset=header)
        .reshape(dims)
        .astype(dtype.newbyteorder("="))
    )


def _read_idx_dataset(name: str, root: Path):
    """MNIST or Fashion-MNIST: ({"train": (x, y), "test": (x, y)}, provenance)."""
    arrays, folders = {}, set()
    names = ", ".join(f.name for f in _IDX_FILES[name].values())
    for key, file in _IDX_FILES[name].items():
        data, path = _verified_bytes(
            file, root, instead=f" ({INFO[name].title} needs all four: {names})"
        )
        arrays[key] = _parse_idx(data, str(path))
        folders.add(str(path.parent))
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{name} {part} files disagree: images {x.shape}, labels {y.shape}")
    origin = f"{INFO[name].title}, original IDX files from {', '.join(sorted(folders))}"
    return {
        "train": (arrays["x_train"], arrays["y_train"]),
        "test": (arrays["x_test"], arrays["y_test"]),
    }, origin


# ------------------------------------------------------- CIFAR-10


def _cifar_kind(root: Path) -> str:
    """Which CIFAR-10 copy load() will use: "batches", "archive", "offline" or "download"."""
    folder = root / "cifar10"
    if (folder / _CIFAR_BATCHES_DIR).is_dir():
        return "batches"
    if (folder / _CIFAR_ARCHIVE.name).is_file():
        return "archive"
    if (folder / _CIFAR_OFFLINE.name).is_file():
        return "offline"
    return "download"


def _read_cifar10(root: Path):
    """CIFAR-10: canonical pickles (loose or archived), else the offline npz, else a download."""
    folder, kind = root / "cifar10", _cifar_kind(root)
    if kind == "offline":
        data, path = _verified_bytes(_CIFAR_OFFLINE, root)
        a = _npz_arrays(data)
        origin = (
            f"CIFAR-10, offline copy {path}: test set is only the first "
            f"{len(a['y_test'])} of the 10000 official test images"
        )
        return {"train": (a["x_train"], a["y_train"]), "test": (a["x_test"], a["y_test"])}, origin
    if kind == "batches":
        batches = folder / _CIFAR_BATCHES_DIR
        origin = f"CIFAR-10, canonical python batches in {batches}"
        return _cifar_batches(batches, check=True), origin
    if kind == "archive":
        archive = folder / _CIFAR_ARCHIVE.name
        _check_file(archive, _CIFAR_ARCHIVE)
    else:
        archive = _download(
            _CIFAR_ARCHIVE,
            root,
            instead=(f" (or the partial offline copy {_CIFAR_OFFLINE.name} next to it)"),
        )
    return _cifar_from_archive(
        archive
    ), f"CIFAR-10, canonical {_CIFAR_ARCHIVE.name} from {archive.parent}"


def _cifar_from_archive(archive: Path) -> dict:
    """Extract the verified archive (into its folder if writable, else a temporary one), read it."""
    folder = archive.parent
    if not _writable(folder):
        with tempfile.TemporaryDirectory(prefix="cifar10-") as tmp:
            return _cifar_batches(safe_extract(archive, tmp) / _CIFAR_BATCHES_DIR, check=False)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", suffix=".part", dir=folder))
    try:
        parts = _cifar_batches(safe_extract(archive, tmp) / _CIFAR_BATCHES_DIR, check=False)
        try:
            os.replace(tmp / _CIFAR_BATCHES_DIR, folder / _CIFAR_BATCHES_DIR)
        except OSError:  # another run got there first: its copy is as good as ours
            pass
        return parts
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _cifar_batches(folder: Path, check: bool) -> dict:
    """{"train": (x, y), "test": (x, y)} from the python pickles, each MD5-checked if asked."""
    xs, ys = {}, {}
    for batch, md5 in _CIFAR_BATCH_MD5.items():
        path = folder / batch
        if not path.is_file():
            raise DatasetNotFoundError(
                f"{path} is missing, so {folder} is incomplete; delete that folder to "
                f"extract it again from {_CIFAR_ARCHIVE.name}"
            )
        data = path.read_bytes()
        actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if check and actual != md5:
            raise ChecksumError(
                f"{path} has the wrong MD5, so it was not used: expected {md5}, got {actual}. "
                f"Delete the folder {folder} to extract it again from {_CIFAR_ARCHIVE.name}."
            )
        entry = pickle.loads(data, encoding="bytes")  # trusted: hash-checked original files
        xs[batch] = (
            np.asarray(entry[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        )
        ys[batch] = np.asarray(entry[b"labels"], np.uint8)
    train = [b for b in _CIFAR_BATCH_MD5 if b != "test_batch"]
    return {
        "train": (np.concatenate([xs[b] for b in train]), np.concatenate([ys[b] for b in train])),
        "test": (xs["test_batch"], ys["test_batch"]),
    }


# ------------------------------------------------------- notMNIST


def _read_notmnist(root: Path):
    """notMNIST small: the npz, else rebuilt from the canonical tarball (local or downloaded)."""
    folder = root / "notmnist"
    npz = folder / _NOTMNIST_NPZ.name
    if npz.is_file():
        a, path = _verified_npz(_NOTMNIST_NPZ, root, _NOTMNIST_CONTENT)
        return {"train": (a["x"], a["y"])}, f"notMNIST small, {path}"
    tarball = folder / _NOTMNIST_TARBALL.name
    if not tarball.is_file():
        tarball = _download(
            _NOTMNIST_TARBALL, root, instead=f" (or {_NOTMNIST_NPZ.name} in the same folder)"
        )
    a = _notmnist_from_tarball(tarball)
    where = f"rebuilt from {tarball}"
    if _writable(folder):
        _save_npz(npz, a)
        where += f" (saved as {npz})"
    return {"train": (a["x"], a["y"])}, f"notMNIST small, {where}"


def _decoded_image(data: bytes, shape: tuple[int, int]) -> np.ndarray | None:
    """An 8-bit grey image from PNG/BMP/TIFF bytes; None if empty, unreadable or wrongly sized."""
    from PIL import Image

    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            pixels = np.asarray(img if img.mode == "L" else img.convert("L"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError):  # PIL's UnidentifiedImageError is an OSError
        return None
    return pixels if pixels.shape == shape else None


def _notmnist_from_tarball(tarball: Path) -> dict:
    """The arrays of notmnist_small.npz decoded from notMNIST_small.tar.gz, checked by content hash.

    Rows sorted by class then file name; empty or unreadable PNGs are skipped.
    """
    letters = INFO["notmnist"].class_names
    rows = []
    with tarfile.open(tarball) as tar:  # read in memory, nothing is written
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if (
                not member.isfile()
                or len(parts) < 2
                or parts[-2] not in letters
                or not parts[-1].endswith(".png")
            ):
                continue
            image = _decoded_image(tar.extractfile(member).read(), (28, 28))
            if image is not None:
                rows.append((parts[-2], parts[-1], image))
    arrays = _notmnist_arrays(sorted(rows, key=lambda row: row[:2]))
    _check_content(arrays, _NOTMNIST_CONTENT, tarball, _NOTMNIST_TARBALL)
    return arrays


def _notmnist_arrays(rows: list) -> dict:
    """The arrays of notmnist_small.npz, in its order, from sorted (letter, file, pixels) rows."""
    letters = INFO["notmnist"].class_names
    return {
        "x": np.stack([r[2] for r in rows]) if rows else np.zeros((0, 28, 28), np.uint8),
        "y": np.array([letters.index(r[0]) for r in rows], dtype=np.uint8),
        "class_names": np.array(letters),
        "filenames": np.array([f"{r[0]}/{r[1]}" for r in rows]),
    }


def _check_content(arrays: dict, expected: dict, source: Path, file: _File) -> None:
    bad = _content_mismatches(arrays, expected)
    if bad:
        details = "; ".join(f"{k}: expected {expected[k]}, got {v}" for k, v in bad.items())
        raise ChecksumError(
            f"the arrays decoded from {source} do not match the published content "
            f"(SHA-256 of the raw array bytes: {details}), so they were not used. "
            f"The archive is damaged or a different version; {_fix_hint(file)}."
        )


# ------------------------------------------------------- Gurmukhi


def _read_gurmukhi(root: Path):
    """Gurmukhi digits: the npz, else rebuilt from the dataset's train.zip and val.zip; inverted."""
    folder = root / "gurmukhi"
    npz = folder / _GURMUKHI_NPZ.name
    if npz.is_file():
        a, path = _verified_npz(_GURMUKHI_NPZ, root, _GURMUKHI_CONTENT)
        where = str(path)
    else:
        a, where = _gurmukhi_from_zips(root)
        if _writable(folder):
            _save_npz(npz, a)
            where += f" (saved as {npz})"
    # stored as ink 0 on a 255 background: invert to bright ink on 0, like the other datasets
    return (
        {"train": (255 - a["x_train"], a["y_train"]), "val": (255 - a["x_val"], a["y_val"])},
        f"Gurmukhi digits, {where}",
    )


def _gurmukhi_from_zips(root: Path) -> tuple[dict, str]:
    zips = {}
    for split, file in _GURMUKHI_ZIPS.items():
        path = root / file.subdir / file.name
        if path.is_file():
            _check_file(path, file)
        else:
            try:
                path = _download(file, root)
            except DatasetNotFoundError as exc:
                raise DatasetNotFoundError(
                    f"{_GURMUKHI_NPZ.name} is missing from {path.parent}: put it at "
                    f"{path.parent / _GURMUKHI_NPZ.name} (shared/data/gurmukhi holds a copy; "
                    "the dataset has no canonical URL), or set LABS_DATA_DIR "
                    f"to a folder laid out like shared/data ({_LAYOUT_HINT}). "
                    f"Rebuilding it from the dataset's zips failed too: {exc}"
                ) from None
        zips[split] = path
    arrays = _gurmukhi_arrays(zips)
    _check_content(arrays, _GURMUKHI_CONTENT, zips["train"].parent, _GURMUKHI_ZIPS["train"])
    return arrays, f"rebuilt from {', '.join(str(p) for p in zips.values())}"


def _gurmukhi_arrays(zips: dict[str, Path]) -> dict:
    """The arrays of gurmukhi_digits.npz, in its order, from zips of <digit>/<n>.bmp|tiff images."""
    rows = {split: _gurmukhi_rows(path) for split, path in zips.items()}
    arrays = {}
    for split in ("train", "val"):
        images = [r[3] for r in rows[split]]
        arrays[f"x_{split}"] = np.stack(images) if images else np.zeros((0, 32, 32), np.uint8)
        arrays[f"y_{split}"] = np.array([int(r[0]) for r in rows[split]], dtype=np.uint8)
    arrays["class_names"] = np.array(_DIGITS)
    for split in ("train", "val"):
        arrays[f"filenames_{split}"] = np.array([f"{split}/{r[0]}/{r[2]}" for r in rows[split]])
    return arrays


def _gurmukhi_rows(path: Path) -> list:
    """(digit, n, file name, pixels) of each readable 32x32 image in a zip, sorted by (digit, n)."""
    rows = []
    with zipfile.ZipFile(path) as zf:  # read in memory, nothing is written
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if (
                info.is_dir()
                or len(parts) < 2
                or parts[-2] not in _DIGITS
                or parts[0] == "__MACOSX"
            ):
                continue
            image = _decoded_image(zf.read(info), (32, 32))
            if image is not None:
                stem = PurePosixPath(parts[-1]).stem
                rows.append((parts[-2], int(stem) if stem.isdigit() else -1, parts[-1], image))
    return sorted(rows, key=lambda row: row[:3])


READERS = {
    "mnist": lambda root: _read_idx_dataset("mnist", root),
    "fashion_mnist": lambda root: _read_idx_dataset("fashion_mnist", root),
    "cifar10": _read_cifar10,
    "notmnist": _read_notmnist,
    "gurmukhi": _read_gurmukhi,
}
