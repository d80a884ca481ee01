"""Migrations against a real Postgres: each in its own transaction, applied once, guarded."""

from __future__ import annotations

import asyncpg
import pytest

from storage.postgres import Migration, migrate


async def test_each_migration_commits_on_its_own(scratch_db: asyncpg.Connection) -> None:
    good = Migration(9001, "good", "CREATE TABLE mig_good (x int)")
    bad = Migration(9002, "bad", "CREATE TABLE mig_bad (x int); SELECT no_such_function()")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await migrate(scratch_db, [good, bad])
    # The first stays applied, the failing one left nothing behind, the lock is free again.
    assert await scratch_db.fetchval("SELECT to_regclass('mig_good') IS NOT NULL")
    assert await scratch_db.fetchval("SELECT to_regclass('mig_bad') IS NULL")
    versions = {
        r["version"] for r in await scratch_db.fetch("SELECT version FROM schema_migrations")
    }
    assert 9001 in versions and 9002 not in versions
    assert await scratch_db.fetchval("SELECT pg_try_advisory_lock(7201911)")
    await scratch_db.execute("SELECT pg_advisory_unlock(7201911)")
    assert await migrate(scratch_db, [good]) == 0  # applied once


async def test_a_changed_migration_is_refused(scratch_db: asyncpg.Connection) -> None:
    await migrate(scratch_db, [Migration(9101, "t", "CREATE TABLE mig_t (x int)")])
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        await migrate(scratch_db, [Migration(9101, "t", "CREATE TABLE mig_t (y int)")])
