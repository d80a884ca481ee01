"""The durable spill of the prediction log: append-only files of COPY-text lines, replayed
into PostgreSQL later.

Each writer appends to a file of its own (``spill-<pid>-<random>.copy``) through one open
descriptor and holds an exclusive ``flock`` on it for as long as it may write there, so a
replayer (this process or another worker sharing the directory) only ever claims files that
nobody writes any more: it takes the lock without waiting, renames the file to
``*.replaying`` and reads it in chunks of whole lines. A crash cannot lose what reached the
file: ``os.write`` puts it in the kernel's page cache, which survives the process; ``fsync``
(at most ``FSYNC_EVERY_S`` after a write, and always before the file is handed on) bounds
what a machine crash could take.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

log = logging.getLogger(__name__)
FSYNC_EVERY_S = 0.1
CHUNK_BYTES = 4 << 20  # lines replayed per COPY: bounds the replayer's memory


class SpillFile:
    """This process's spill file: opened on the first write, rotated before a replay."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path: Path | None = None
        self._fd: int | None = None
        self._dirty_since: float | None = None

    def append(self, data: bytes) -> None:
        """Write whole lines to the file (page cache: survives a crash of this process)."""
        if not data:
            return
        if self._fd is None:
            self.path = self.directory / f"spill-{os.getpid()}-{uuid.uuid4().hex[:8]}.copy"
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def fsync_due(self, now: bool = False) -> int | None:
        """The descriptor to fsync when a write has waited ``FSYNC_EVERY_S`` (or ``now``);
        None when nothing is waiting."""
        if self._fd is None or self._dirty_since is None:
            return None
        if not now and time.monotonic() - self._dirty_since < FSYNC_EVERY_S:
            return None
        self._dirty_since = None
        return self._fd

    def rotate(self) -> None:
        """fsync and release the current file (it becomes claimable); the next write opens
        a new one."""
        if self._fd is None:
            return
        os.fsync(self._fd)
        os.close(self._fd)  # closing drops the flock
        self._fd, self.path, self._dirty_since = None, None, None

    close = rotate

    def total_bytes(self) -> int:
        total = 0
        for path in self.directory.glob("spill-*"):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total


def claim(directory: Path) -> Generator[Path, None, None]:
    """Spill files nobody writes to, each renamed to a unique ``*.replaying`` name first.

    A file still locked by its writer is skipped; one already claimed (``.replaying``, left
    by a replay that failed half-way or by a process that died) is taken again if unlocked.
    """
    for path in sorted(directory.glob("spill-*")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # claimed by another worker meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer still holds it
            claimed = path
            if path.suffix != ".replaying":  # a unique name: renaming never overwrites a claim
                claimed = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:8]}.replaying")
                try:
                    path.rename(claimed)
                except FileNotFoundError:
                    continue
            yield claimed
        finally:
            os.close(fd)


def chunks(path: Path, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's whole lines, about ``size`` bytes at a time. A torn last line (a crash in
    the middle of a write) is dropped with a warning: it was never acknowledged durable."""
    with path.open("rb") as handle:
        rest = b""
        while True:
            block = handle.read(size)
            if not block:
                break
            data = rest + block
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield data[:cut]
        if rest.strip():
            log.warning(
                "prediction log: dropped a torn last line (%d bytes) in %s", len(rest), path
            )
