"""Prediction records to PostgreSQL: off the request path, bounded in memory, never lost.

``log()`` encodes a record once, as a line of PostgreSQL's COPY text format
(``storage/log_records.py``; its vector stored once, by hash: ``storage/log_vectors.py``),
and queues it in memory; ``queue_lines`` takes lines encoded already. Writer tasks drain the
queue with ``COPY`` in batches (``storage/log_copy.py``). The queue is capped (records and
bytes): what finds it full goes straight to the spill file (``storage/spill.py``), as does a
batch Postgres cannot take, so memory stays flat however long an overload or an outage lasts.
Spilled lines are replayed through a staging table with ``ON CONFLICT (record_id) DO
NOTHING``: a replay that half-succeeds, or runs twice, writes each record once. ``close()``
drains the queue (to Postgres, else the spill); a new writer replays what an earlier process
left in its spill directory. A crash (SIGKILL, OOM) can lose what is in memory: at most
``max_records`` queued plus one ``batch_size`` batch being written per writer (``WRITERS``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from storage import log_vectors, spill
from storage.log_copy import LogTable
from storage.log_records import _legacy

log = logging.getLogger(__name__)

WRITERS = 2  # concurrent COPYs: Postgres parses each on its own core


class LogFull(RuntimeError):
    """The spill directory holds ``max_spill_bytes``: a prediction that cannot be recorded
    must not be served (the API answers 503), rather than be served and lost."""


@dataclass
class LogStats:
    queued: int = 0
    written: int = 0
    spilled: int = 0  # batches Postgres could not take, and records that found the queue full
    overflowed: int = 0  # of those, records that found the queue full
    replayed: int = 0


class PredictionLogger:
    def __init__(
        self,
        pool: asyncpg.Pool,
        spill_dir: Path,
        *,
        batch_size: int = 2000,
        flush_interval: float = 0.2,
        retry_interval: float = 1.0,
        max_records: int = 8000,
        max_bytes: int = 16 << 20,
        enabled: bool = True,
        writers: int = WRITERS,
        max_spill_bytes: int = 8 << 30,
    ) -> None:
        self.spill, self.spill_dir = spill.SpillFile(spill_dir), spill_dir
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.retry_interval, self.max_spill_bytes = retry_interval, max_spill_bytes
        self.max_records, self.max_bytes = max_records, max_bytes
        self._spilled_bytes = self.spill.total_bytes()  # refreshed by the writer
        self.enabled = enabled  # off only for benchmarks: nothing is recorded then
        self.stats = LogStats()
        self.vectors = log_vectors.Vectors()
        self._queue: collections.deque[bytes] = collections.deque()
        self._queued_bytes = 0
        self._wake, self._full = asyncio.Event(), asyncio.Event()
        self.writers = writers
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.table = LogTable(pool, retry_interval)  # COPYs, and whether Postgres is down
        self._next_replay = 0.0
        # Lines each writer took off the queue but has not yet written or spilled: if it is
        # cancelled (shutdown) they are still here for close() to save.
        self._pending: dict[int, list[bytes]] = {}

    # -- public -------------------------------------------------------------------------
    @property
    def pool(self) -> asyncpg.Pool:
        return self.table.pool

    @pool.setter
    def pool(self, pool: asyncpg.Pool) -> None:  # another pool (tests: one that is closed)
        self.table.pool = pool

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(i), name=f"prediction-log-writer-{i}")
            for i in range(self.writers)
        ]

    def log(self, record: dict[str, Any]) -> None:
        self.log_many([record])

    def log_many(self, records: list[dict[str, Any]]) -> None:
        """Queue a request's records, or spill what the queue has no room for. Raises
        LogFull (nothing recorded) when even the spill is at its limit."""
        if self.enabled and records:
            self.queue_lines(self.vectors.encode(records))

    def queue_lines(self, lines: list[bytes]) -> None:
        """``log_many`` for records encoded already (``self.vectors`` placed their vectors)."""
        if not self.enabled or not lines:
            return
        count = len(lines)
        if self._closing:  # late records still land somewhere durable
            self._overflow(lines)
            self.spill.rotate()
        else:
            room = self.max_records - len(self._queue)
            room = max(0, room) if self._queued_bytes < self.max_bytes else 0
            if room < len(lines):  # the queue is full: the rest goes straight to the spill
                self._overflow(lines[room:])
                lines = lines[:room]  # (the caller's list is left as it was)
            if lines:
                self._queue.extend(lines)
                self._queued_bytes += sum(map(len, lines))
                self._wake.set()
                if len(self._queue) >= self.batch_size:
                    self._full.set()
        self.stats.queued += count

    def check_room(self) -> None:
        """Raise LogFull when the spill directory is at its limit (as of the last check)."""
        if self._spilled_bytes >= self.max_spill_bytes:
            raise self._full_spill()

    def _full_spill(self) -> LogFull:
        return LogFull(
            f"the prediction log's spill holds {self._spilled_bytes} bytes "
            f"(limit {self.max_spill_bytes}); predictions resume once Postgres takes them"
        )

    def _overflow(self, lines: list[bytes]) -> None:
        data = log_vectors.spill_form(lines)
        if self._spilled_bytes + len(data) > self.max_spill_bytes:
            raise self._full_spill()
        self.spill.append(data)
        self._spilled_bytes += len(data)
        self.stats.spilled += len(lines)
        self.stats.overflowed += len(lines)

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def spill_bytes(self) -> int:
        self._spilled_bytes = self.spill.total_bytes()
        return self._spilled_bytes

    async def flush(self, wait_s: float = 10.0) -> bool:
        """Wait until everything queued so far is written or spilled."""
        deadline = time.monotonic() + wait_s
        while self._queue or any(self._pending.values()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def close(self) -> None:
        """Drain the queue (to Postgres, else the spill file), then stop the writer."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            done, _ = await asyncio.wait(self._tasks, timeout=5)
            for task in done:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
        rest = [line for lines in self._pending.values() for line in lines]
        self._pending = {}
        rest.extend(self._queue)
        self._queue.clear()
        self._queued_bytes = 0
        for i in range(0, len(rest), self.batch_size):
            await self._save(rest[i : i + self.batch_size])
        self.spill.close()

    # -- writer -------------------------------------------------------------------------
    async def _run(self, writer: int) -> None:
        """Writer 0 flushes partial batches on time, syncs and replays the spill; the others
        only take full batches, so they add throughput exactly when the queue backs up."""
        # Checks _closing as well as honouring cancellation: on Python 3.11, wait_for can
        # swallow a cancel that lands as a wait completes, and a `while True` writer then
        # never ends (seen as shutdowns hanging after load).
        while not self._closing:
            try:
                await (self._next_batch(writer) if writer == 0 else self._next_full(writer))
                if self._pending.get(writer):
                    await self._save(self._pending[writer])
                    self._pending[writer] = []
                if writer:
                    continue
                fd = self.spill.fsync_due()
                if fd is not None:
                    await asyncio.to_thread(_fsync, fd)
                self.spill_bytes()  # other workers spill and replay too
                if len(self._queue) < self.batch_size and time.monotonic() >= self._next_replay:
                    await self._replay()
            except asyncio.CancelledError:
                raise
            except Exception:  # the writer must outlive any single failure
                log.exception("prediction log writer: unexpected error; continuing")
                await asyncio.sleep(self.retry_interval)

    async def _next_full(self, writer: int) -> None:
        while len(self._queue) < self.batch_size and not self._closing:
            self._full.clear()
            await self._full.wait()
        self._take(writer)

    def _take(self, writer: int) -> None:
        take = min(self.batch_size, len(self._queue))
        popleft = self._queue.popleft
        self._pending[writer] = lines = [popleft() for _ in range(take)]
        self._queued_bytes -= sum(map(len, lines))

    async def _next_batch(self, writer: int = 0) -> None:
        """Move up to batch_size lines into _pending, giving a batch flush_interval to fill."""
        if not self._queue:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), spill.FSYNC_EVERY_S)
            if not self._queue:
                return
        if len(self._queue) < self.batch_size:
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.flush_interval)
        self._take(writer)

    async def _save(self, lines: list[bytes]) -> None:
        data, vectors = self.vectors.batch(lines)
        if await self._copy(data, vectors=vectors):
            self.vectors.committed(vectors)
            self.stats.written += len(lines)
            return
        self.spill.append(log_vectors.spill_form(lines) if vectors else data)
        await asyncio.to_thread(_fsync, self.spill.fsync_due(now=True))
        self.stats.spilled += len(lines)

    async def _copy(
        self, data: bytes, staged: bool = False, vectors: dict[str, bytes] | None = None
    ) -> bool:
        if await self.table.copy(data, staged=staged, vectors=vectors):
            return True
        self._next_replay = max(self._next_replay, self.table.down_until)
        return False

    async def _replay(self) -> None:
        """Move spilled lines (this process's and any other writer's released files) to
        Postgres, a chunk at a time, fresh batches first whenever the queue fills."""
        self._next_replay = time.monotonic() + self.retry_interval
        if self.spill_bytes() == 0:
            return
        self.spill.rotate()  # what this process spilled so far becomes claimable
        claims = spill.claim(self.spill_dir)
        try:
            await self._replay_files(claims)
        finally:
            claims.close()  # releases the lock of a file left half-way

    async def _replay_files(self, claims: Iterator[Path]) -> None:
        for path in claims:
            replayed = 0
            for data in spill.chunks(path):
                lines = _legacy(data)
                if not await self._copy(lines, staged=True):
                    return  # still down: the claimed file stays and is retried later
                replayed += lines.count(b"\n")
                while len(self._queue) >= self.batch_size:
                    self._take(0)
                    await self._save(self._pending[0])
                    self._pending[0] = []
            self.stats.replayed += replayed
            path.unlink(missing_ok=True)
            log.info("prediction log: replayed %d spilled records from %s", replayed, path.name)


def _fsync(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):  # closed by a rotation meanwhile: it was synced
            os.fsync(fd)
