"""Atomic file writes: a failed run never leaves a half-written artefact where a reader looks.

A temporary file or folder is held under an exclusive lock (flock) by the process that made it, for as
long as it lives. The lock dies with the process, even on SIGKILL, so the next writer can tell what a
killed one left behind from what a live one is still writing, and removes only the former. Files are
created with the mode the umask allows (0o666 & ~umask), like any file a program writes, not mkstemp's 0o600.
"""
from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import secrets
import shutil
import stat
import tempfile
import time
from pathlib import Path

import pandas as pd

from tweetops.errors import TweetopsError

# Leftovers younger than this process are never removed: their maker may not have taken its lock yet.
_STARTED = time.time()
# The random part of every name made here (secrets.token_hex(4)), as a glob: what matches no more than the
# prefix (a user's own "tweetops-download-notes" in TMPDIR) is never taken for a leftover.
TOKEN_GLOB = "[0-9a-f]" * 8


def _lock(fd: int) -> bool:
    """Take the exclusive lock on `fd` without waiting; False when another open file holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def remove_abandoned(folder: Path, pattern: str) -> list[Path]:
    """Remove what killed processes left in `folder` under names matching `pattern` (a glob): the temporary
    files and folders nobody holds the lock of any more. Returns what was removed."""
    removed = []
    for entry in Path(folder).glob(pattern):
        try:
            info = entry.lstat()
            if stat.S_ISLNK(info.st_mode) or info.st_mtime >= _STARTED:
                continue
            fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # gone already, or not ours to read
            continue
        try:
            if not _lock(fd):
                continue  # its maker is alive
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
        finally:
            os.close(fd)
    return removed


def _new_file(folder: Path, prefix: str, suffix: str) -> tuple[Path, int]:
    """A new, empty file in `folder`, locked; mode 0o666 & ~umask (the kernel applies the umask)."""
    while True:
        path = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        _lock(fd)
        return path, fd


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    What a killed writer of the same file left beside it is removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    remove_abandoned(path.parent, f"{glob.escape(prefix)}{TOKEN_GLOB}.tmp")
    tmp, fd = _new_file(path.parent, prefix, ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.close(fd)


@contextlib.contextmanager
def locked_folder(parent: str | Path, prefix: str):
    """A new folder `parent/<prefix><random>`, locked while the block runs and removed after it, whatever
    happens; the folders killed processes left under the same prefix are removed first."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(parent, f"{glob.escape(prefix)}{TOKEN_GLOB}")
    while True:
        folder = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            folder.mkdir()
            break
        except FileExistsError:
            continue
    fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    _lock(fd)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def scratch_folder(prefix: str):
    """A private working folder under the system's temporary folder (TMPDIR), see `locked_folder`."""
    return locked_folder(tempfile.gettempdir(), prefix)


def publish_tree(source: Path, target: Path) -> None:
    """Move everything under `source` to the same place under `target`: a folder `target` lacks moves
    whole (one rename, so a reader never sees it half there), a file replaces its namesake."""
    for entry in sorted(Path(source).iterdir()):
        destination = Path(target) / entry.name
        if entry.is_dir() and destination.is_dir() and not destination.is_symlink():
            publish_tree(entry, destination)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(entry, destination)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_record(path: str | Path, shape: type = dict, keys: tuple[str, ...] = ()):
    """A JSON record tweetops wrote (an object with `keys`, or a list), or one sentence saying it is damaged."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        value = None
    if not isinstance(value, shape) or (isinstance(value, dict) and any(key not in value for key in keys)):
        raise TweetopsError(f"{path} is damaged (not the JSON tweetops writes there); restore it, or delete it and "
                            "run again what writes it.")
    return value


def write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cannot_write(path: Path, exc: OSError, option: str = "--output") -> TweetopsError:
    """One sentence for an output that cannot be created: under a file, in a folder we may not write, ..."""
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        why = f"{blocker} is a file, not a folder"
    elif isinstance(exc, PermissionError):
        why = f"{path.parent if path.parent.is_dir() else blocker} is not writable (permission denied)"
    else:
        why = exc.strerror or type(exc).__name__
    return TweetopsError(f"cannot write the output {path}: {why}; choose another {option}.")


def writable_folder(folder: Path, option: str = "--output") -> Path:
    """The folder, unchanged; one sentence when it is a file or could not be made (under a file, in a folder we
    may not write). Nothing is created, so a run refused later leaves nothing behind."""
    if folder.exists() and not folder.is_dir():
        raise TweetopsError(f"the output {folder} is a file; give {option} a folder.")
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise cannot_write(folder, NotADirectoryError(), option)
    if existing != folder and not os.access(existing, os.W_OK | os.X_OK):
        raise cannot_write(folder, PermissionError(), option)
    return folder
