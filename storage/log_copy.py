"""The prediction log's writes to PostgreSQL: a batch by COPY — straight in, or through a
staging table that skips record ids already there — with the vectors it carries, in one
transaction; and whether PostgreSQL is down (after a failed write, batches are not tried
again for ``retry_interval``: the writer spills them instead)."""

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg

from storage.log_records import COLUMNS
from storage.log_vectors import INSERT as INSERT_VECTORS
from storage.log_vectors import MERGE  # vectors inline in spilled lines move to feature_vectors

log = logging.getLogger(__name__)

STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS prediction_log_stage "
    "(LIKE prediction_log INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
# asyncpg's protocol state when the server dies mid-write is InternalClientError. Any of
# these may follow a partial write: what is then replayed from the spill is deduplicated.
UNAVAILABLE = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)
# A stalled (not dead) server must not hold the writer for ever: past this a batch counts as
# not written and is spilled (if it did land, its replay is deduplicated).
WRITE_TIMEOUT_S = 30.0


class LogTable:
    def __init__(self, pool: asyncpg.Pool, retry_interval: float) -> None:
        self.pool, self.retry_interval = pool, retry_interval
        self.down_until = 0.0  # after a failed write, batches spill without trying
        self.down = False

    async def copy(
        self, data: bytes, staged: bool = False, vectors: dict[str, bytes] | None = None
    ) -> bool:
        if time.monotonic() < self.down_until:
            return False
        vectors = vectors or {}
        try:
            async with self.pool.acquire(timeout=5) as conn:
                # A memoryview: asyncpg would take bytes for a file name (os.fspath accepts them).
                # (Typed Any: asyncpg's stubs name only files and iterables as sources.)
                source: Any = memoryview(data)
                table = "prediction_log_stage" if staged else "prediction_log"
                if not (staged or vectors):  # fresh ids: COPY straight in (nothing on failure)
                    await conn.copy_to_table(
                        table, source=source, columns=COLUMNS, timeout=WRITE_TIMEOUT_S
                    )
                    return self._up()
                async with conn.transaction():
                    if vectors:  # vectors the log may lack go in first, in the same transaction
                        await conn.execute(INSERT_VECTORS, list(vectors), list(vectors.values()))
                    if staged:  # through a staging table: deduplicated by record id
                        await conn.execute(STAGE)
                    await conn.copy_to_table(
                        table, source=source, columns=COLUMNS, timeout=WRITE_TIMEOUT_S
                    )
                    if staged:
                        await conn.execute(MERGE)
            return self._up()
        except asyncpg.UniqueViolationError:
            if staged:
                raise  # the merge skips ids already there: not an outage, a defect
            # Some of these records are in already (a batch whose COPY committed just as
            # its writer was stopped, saved again at close): write the rest, once each.
            return await self.copy(data, staged=True, vectors=vectors)
        except UNAVAILABLE as exc:
            self.down_until = time.monotonic() + self.retry_interval
            if not self.down:  # one warning per outage, not one per attempt
                self.down = True
                log.warning(
                    "prediction log: PostgreSQL unavailable (%s); spilling until it returns",
                    type(exc).__name__,
                )
            return False

    def _up(self) -> bool:
        if self.down:
            self.down = False
            log.info("prediction log: PostgreSQL is back; replaying what was spilled")
        return True
