"""Move the wheels and every dataset to a GPU machine in several device calls, each under the carry
limit.

    python3 benchmarks/gpu/carry.py split SOURCE_DIR DEST_PREFIX [LIMIT_MIB]   # here
    python3 benchmarks/gpu/carry.py stash FOLDER [STASH_DIR]                 # on the device, one
        call per folder
    python3 benchmarks/gpu/carry.py join [STASH_DIR] OUT_DIR                   # on the device,
        after the last

split: SOURCE_DIR's files (wheels/, data/) go, in order, into DEST_PREFIX-1/, DEST_PREFIX-2/, ... of
at most LIMIT_MIB (default 60: the device tool carries 64 MiB with the working tree) each; a file
that does not fit is cut into pieces NAME.partNNN. Every folder holds manifest.json: each original
file's size and SHA-256. stash: copy FOLDER (carried by this call) into STASH_DIR (default
/tmp/labs-carry), where it stays while the machine is held. join: rebuild the files from every
stashed folder into OUT_DIR, check sizes and SHA-256, and say which folder is missing if a file is
incomplete. (The pack's loader checks each dataset's SHA-256 again.)
"""

import hashlib
import json
import shutil
import sys
from pathlib import Path

MIB = 1024 * 1024
STASH = "/tmp/labs-carry"
MANIFEST = "manifest.json"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def split(source, prefix, limit_mib=60):
    source, limit = Path(source), int(float(limit_mib) * MIB)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    manifest = {
        p.relative_to(source).as_posix(): {"size": p.stat().st_size, "sha256": sha256(p)}
        for p in files
    }
    folders, used = [], limit  # `used` = limit forces a first folder
    for path in files:
        rel, size = path.relative_to(source).as_posix(), path.stat().st_size
        left, part = size, 0
        with open(path, "rb") as f:
            while True:
                if used >= limit:
                    folders.append(Path(f"{prefix}-{len(folders) + 1}"))
                    shutil.rmtree(folders[-1], ignore_errors=True)
                    folders[-1].mkdir(parents=True)
                    used = 0
                take = min(left, limit - used)
                target = folders[-1] / (
                    rel if take == size else f"{rel}.part{part:03d}"
                )  # whole, or a piece
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(f.read(take))
                left, used, part = left - take, used + take, part + 1
                if not left:
                    break
    for folder in folders:
        (folder / MANIFEST).write_text(
            json.dumps({"folders": len(folders), "files": manifest}, indent=1)
        )
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"{folder}: {size / MIB:.1f} MiB")
    return folders


def stash(folder, stash_dir=STASH):
    folder, dest = Path(folder), Path(stash_dir) / Path(folder).name
    if not (folder / MANIFEST).is_file():
        sys.exit(f"{folder} has no {MANIFEST}: carry a folder made by `carry.py split`")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(folder, dest)
    have = sorted(p.name for p in Path(stash_dir).iterdir() if (p / MANIFEST).is_file())
    print(f"stashed {folder} in {dest}; {stash_dir} holds {', '.join(have)}")


def join(stash_dir, out):
    stash_dir, out = Path(stash_dir), Path(out)
    folders = sorted(
        (p for p in stash_dir.iterdir() if (p / MANIFEST).is_file()),
        key=lambda p: int(p.name.rsplit("-", 1)[1]),
    )
    if not folders:
        sys.exit(
            f"nothing stashed in {stash_dir}: run `carry.py stash FOLDER` in each device call first"
        )
    manifest = json.loads((folders[0] / MANIFEST).read_text())
    missing = sorted(
        set(range(1, manifest["folders"] + 1)) - {int(p.name.rsplit("-", 1)[1]) for p in folders}
    )
    if missing:
        sys.exit(
            f"{stash_dir} lacks folder(s) {missing} of {manifest['folders']}: stash them first"
        )
    for rel, want in manifest["files"].items():
        target = out / rel
        if target.is_file() and target.stat().st_size == want["size"]:
            continue  # joined by an earlier call
        pieces = [f / rel for f in folders if (f / rel).is_file()] or sorted(
            (p for f in folders for p in f.glob(f"{rel}.part*")), key=lambda p: p.name
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".joining")
        with open(tmp, "wb") as w:
            for piece in pieces:
                w.write(piece.read_bytes())
        if tmp.stat().st_size != want["size"] or sha256(tmp) != want["sha256"]:
            tmp.unlink()
            sys.exit(
                f"{rel}: pieces {[p.parent.name for p in pieces]} do not rebuild it "
                "(size or SHA-256 differs)"
            )
        tmp.replace(target)
    print(f"joined {len(manifest['files'])} files from {len(folders)} folders into {out}")


if __name__ == "__main__":
    command, *args = sys.argv[1:] or ["help"]
    if command == "split" and 2 <= len(args) <= 3:
        split(*args)
    elif command == "stash" and 1 <= len(args) <= 2:
        stash(*args)
    elif command == "join" and 1 <= len(args) <= 2:
        join(*([STASH] if len(args) == 1 else []), *args)
    else:
        sys.exit(__doc__)
