"""Prediction records to PostgreSQL: batched, off the request path, never lost.

``log()`` only appends to an in-memory queue. One writer task drains it in batches
(``INSERT .. ON CONFLICT (record_id) DO NOTHING``). If Postgres cannot take a batch, the
batch is appended to a local spill file (JSON lines, fsynced) and the writer keeps trying
to replay the file; a replay that half-succeeds is harmless because record ids are unique.
``close()`` drains the queue (to Postgres, else to the spill file) before returning, and a
new writer replays whatever an earlier process left in its spill directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

COLUMNS = (
    "record_id",
    "request_id",
    "endpoint",
    "game_id",
    "model_name",
    "model_version",
    "home_model_version",
    "total_model_version",
    "feature_version",
    "feature_hash",
    "feature_as_of",
    "feature_cutoff",
    "predicted_at",
    "cache_hit",
    "home_ml_probability",
    "total_over_probability",
    "home_ml_confidence",
    "total_over_confidence",
    "odds_used",
    "recommendations",
    "latency_ms",
)
TIME_COLUMNS = {"feature_as_of", "feature_cutoff", "predicted_at"}
JSON_COLUMNS = {"odds_used", "recommendations"}
INSERT = (
    f"INSERT INTO prediction_log ({', '.join(COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) "
    "ON CONFLICT (record_id) DO NOTHING"
)


@dataclass
class LogStats:
    queued: int = 0
    written: int = 0
    spilled: int = 0
    replayed: int = 0


def new_record_id() -> str:
    return str(uuid.uuid4())


def _to_row(record: dict[str, Any]) -> tuple[Any, ...]:
    row = []
    for col in COLUMNS:
        value = record[col]
        if col == "record_id":
            value = uuid.UUID(value)
        elif col in TIME_COLUMNS and isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif col in JSON_COLUMNS and not isinstance(value, str):
            value = json.dumps(value)
        row.append(value)
    return tuple(row)


def _to_json(record: dict[str, Any]) -> str:
    return json.dumps(
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in record.items()}
    )


class PredictionLogger:
    def __init__(
        self,
        pool: asyncpg.Pool,
        spill_dir: Path,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        retry_interval: float = 1.0,
    ) -> None:
        self.pool = pool
        spill_dir.mkdir(parents=True, exist_ok=True)
        self.spill_dir = spill_dir
        self.spill_path = spill_dir / f"spill-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_interval = retry_interval
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.stats = LogStats()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # Records taken off the queue but not yet written or spilled: if the writer is
        # cancelled (shutdown) they are still here for close() to save.
        self._pending: list[dict[str, Any]] = []

    # -- public -------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="prediction-log-writer")

    def log(self, record: dict[str, Any]) -> None:
        if self._closing:
            self._spill([record])  # late records still land somewhere durable
            return
        self.queue.put_nowait(record)
        self.stats.queued += 1

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    def spill_bytes(self) -> int:
        total = 0
        for path in self.spill_dir.glob("spill-*"):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    async def flush(self, wait_s: float = 10.0) -> bool:
        """Wait until everything queued so far is written or spilled."""
        deadline = time.monotonic() + wait_s
        while self.queue.qsize() or self._pending:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def close(self) -> None:
        """Drain the queue (to Postgres, else the spill file), then stop the writer."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=5)
            if done:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    self._task.result()
        rest, self._pending = self._pending, []
        while not self.queue.empty():
            rest.append(self.queue.get_nowait())
        if rest and not await self._write(rest):
            self._spill(rest)

    # -- writer -------------------------------------------------------------------------
    async def _run(self) -> None:
        last_replay = 0.0
        # Checks _closing as well as honouring cancellation: on Python 3.11, wait_for can
        # swallow a cancel that lands as queue.get() completes, and a `while True` writer
        # then never ends (seen as shutdowns hanging after load).
        while not self._closing:
            try:
                await self._next_batch()
                if self._pending:
                    if not await self._write(self._pending):
                        self._spill(self._pending)
                    self._pending = []
                if time.monotonic() - last_replay >= self.retry_interval:
                    last_replay = time.monotonic()
                    await self._replay()
            except asyncio.CancelledError:
                raise
            except Exception:  # the writer must outlive any single failure
                log.exception("prediction log writer: unexpected error; continuing")
                await asyncio.sleep(self.retry_interval)

    async def _next_batch(self) -> None:
        """Move up to batch_size records into _pending, waiting at most flush_interval."""
        try:
            self._pending.append(await asyncio.wait_for(self.queue.get(), self.retry_interval))
        except TimeoutError:
            return
        deadline = time.monotonic() + self.flush_interval
        while len(self._pending) < self.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self._pending.append(await asyncio.wait_for(self.queue.get(), remaining))
            except TimeoutError:
                break

    async def _write(self, records: list[dict[str, Any]], replay: bool = False) -> bool:
        try:
            async with self.pool.acquire(timeout=5) as conn:
                await conn.executemany(INSERT, [_to_row(r) for r in records])
        # InternalClientError: asyncpg's protocol state when the server dies mid-write. Any
        # of these may follow a partial write; the replay is idempotent (unique record ids).
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.InternalClientError,
        ) as exc:
            log.warning(
                "prediction log: Postgres unavailable (%s); spilling %d records", exc, len(records)
            )
            return False
        if not replay:
            self.stats.written += len(records)
        return True

    def _spill(self, records: list[dict[str, Any]]) -> None:
        with self.spill_path.open("a", encoding="utf-8") as handle:
            handle.write("".join(_to_json(r) + "\n" for r in records))
            handle.flush()
            os.fsync(handle.fileno())
        self.stats.spilled += len(records)

    async def _replay(self) -> None:
        """Move spilled records (this process's and any left by earlier ones) to Postgres.

        A file is claimed by renaming it first, so records spilled meanwhile go to a new file
        and are never lost; a replay interrupted half-way is harmless (unique record ids).
        """
        for path in sorted(self.spill_dir.glob("spill-*")):
            claimed = path
            if path.suffix != ".replaying":  # a unique name: renaming never overwrites a claim
                claimed = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:8]}.replaying")
                try:
                    path.rename(claimed)
                except FileNotFoundError:
                    continue  # another worker claimed it
            try:
                text = claimed.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue  # replayed by another worker meanwhile
            lines = [ln for ln in text.splitlines() if ln.strip()]
            records = [json.loads(ln) for ln in lines]
            for i in range(0, len(records), self.batch_size):
                if not await self._write(records[i : i + self.batch_size], replay=True):
                    return  # still down: the claimed file stays and is retried later
            self.stats.replayed += len(records)
            claimed.unlink(missing_ok=True)
            log.info("prediction log: replayed %d spilled records from %s", len(records), path)
