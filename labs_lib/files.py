"""Files: write through a temporary name and rename, so a reader never sees half a file; read JSON records."""
import json
import os
import tempfile
from pathlib import Path


def atomic_write(path, data):
    """Write bytes or text to `path` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path):
    """The JSON in `path`, or {} when the file is missing or unreadable (a run that left no record)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
