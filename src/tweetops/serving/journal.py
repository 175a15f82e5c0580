"""The prediction journal: every answered prediction, on local disk before its answer is sent.

Each serving process appends its records, one JSON object a line, to its own file with a single
write() per request, before the response leaves. A write() is in the kernel's hands once it
returns, so SIGKILL of the process loses nothing; power loss can lose what the kernel had not yet
written out (the last seconds, unless the disk is mounted with sync). The shipper
(tweetops.serving.history) reads each journal from where it last stopped, writes the records to
the database and records how far it got in a `.shipped` file beside it; a journal whose writer died
is claimed by a live process (renamed to its pid) and shipped the same way. Records carry a unique
id and the database ignores one it already holds, so shipping twice never duplicates a row.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from tweetops.io.processes import pid_alive

JOURNAL = re.compile(r"journal-(?P<pid>\d+)-(?P<token>[0-9a-f]+)\.jsonl")
ROTATE_BYTES = 64 * 1024 * 1024
QUARANTINE = "quarantine.jsonl"  # records the database refused, each with its reason
_writing: set[Path] = set()  # journals open for writing in this process, by any History: never shipped as orphans


class JournalFull(OSError):
    """The journal cannot be written (disk full, read-only, gone): the prediction must not be answered."""


def owner(path: Path) -> int | None:
    match = JOURNAL.fullmatch(path.name)
    return int(match["pid"]) if match else None


def shipped_marker(path: Path) -> Path:
    return path.with_name(path.name + ".shipped")


def shipped_offset(path: Path) -> int:
    try:
        return int(shipped_marker(path).read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0  # unknown: ship from the start; the database drops what it already holds


def mark_shipped(path: Path, offset: int) -> None:
    marker = shipped_marker(path)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(str(offset), encoding="ascii")
    os.replace(tmp, marker)


@dataclass
class Unshipped:
    """The complete lines of a journal past its shipped offset, each with the offset just past it."""

    path: Path
    lines: list[bytes]
    ends: list[int]


def read_unshipped(path: Path) -> Unshipped:
    start = shipped_offset(path)
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read()
    lines, ends, at = [], [], 0
    while (newline := data.find(b"\n", at)) != -1:  # a line cut short by a crash mid-write was never answered
        if newline > at:
            lines.append(data[at:newline])
            ends.append(start + newline + 1)
        at = newline + 1
    return Unshipped(path, lines, ends)


class Journal:
    """This process's journal: append-only, one write() per call, rotated when it grows large.

    The file is created on the first append, so a process that only reads the history leaves none.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.path: Path | None = None
        self.fd: int | None = None
        self.size = 0

    def _open(self) -> None:
        path = self.folder / f"journal-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self.path, self.size = path, 0
        _writing.add(path)

    def append(self, payload: bytes) -> None:
        """Write JSON lines in one write(); JournalFull when they cannot be written whole."""
        with self._lock:
            try:
                if self.fd is None:
                    self._open()
                view = memoryview(payload)
                while view:
                    view = view[os.write(self.fd, view):]
            except OSError as exc:
                if self.fd is not None:  # cut a partial write, or the next record would be glued to it
                    with contextlib.suppress(OSError):
                        os.ftruncate(self.fd, self.size)
                raise JournalFull(exc.errno, f"the prediction journal cannot be written ({exc.strerror})") from None
            self.size += len(payload)
            if self.size >= ROTATE_BYTES:
                self._close()

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            _writing.discard(self.path)
        self.fd = None

    def close(self) -> None:
        with self._lock:
            self._close()

    def owned(self) -> list[Path]:
        """Every journal of this process, the one being written last; orphans of dead processes are claimed first."""
        me = os.getpid()
        for path in self.folder.glob("*.jsonl"):
            pid = owner(path)
            if path.name == QUARANTINE or pid == me or (pid is not None and pid_alive(pid)):
                continue
            claimed = path.with_name(f"journal-{me}-{uuid.uuid4().hex[:12]}.jsonl")
            try:  # by rename, so one process claims it; its offset follows (losing it only ships twice)
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another process took it
            if shipped_marker(path).exists():
                os.replace(shipped_marker(path), shipped_marker(claimed))
        # This pid's other journals: rotated, or left by a killed process that had the same pid (containers
        # number their processes alike), but not those another History of this process is writing.
        mine = [p for p in self.folder.glob(f"journal-{me}-*.jsonl") if p == self.path or p not in _writing]
        return sorted(mine, key=lambda p: (p == self.path, p.stat().st_mtime))

    def retire(self, path: Path) -> None:
        """Delete a journal that is not being written any more and is shipped to its end."""
        if path not in _writing and shipped_offset(path) >= path.stat().st_size:
            path.unlink(missing_ok=True)
            shipped_marker(path).unlink(missing_ok=True)


def quarantine(folder: Path, line: bytes, reason: str) -> None:
    """Keep a record the database refused, with why, in one file an operator can read and replay."""
    entry = orjson.dumps({"reason": reason, "record": line.decode("utf-8", "replace")}) + b"\n"
    fd = os.open(folder / QUARANTINE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, entry)
    finally:
        os.close(fd)
