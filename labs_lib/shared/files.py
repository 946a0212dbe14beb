"""Files: write to a temporary name and rename, so a reader never sees half a file; JSON records."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write(path, data):
    """Write bytes or text to `path` through a temporary file in the same folder, then rename.

    The file gets the permissions of a plain `open` (0666 less the umask: 0644 by default), not the
    0600 of a temporary file, so a reports folder stays readable by whoever may read the folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def current_umask():
    """The process's umask, read without changing it (Linux: /proc/self/status) where possible."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly process-wide)
    os.umask(mask)
    return mask


def to_json(obj):
    """JSON text for results holding numpy scalars/arrays, paths and NaN (written as null)."""
    return json.dumps(_plain(obj), indent=2, allow_nan=False) + "\n"


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def read_json(path):
    """The JSON in `path`, or {} if the file is missing or unreadable (a run left no record)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
