"""Embedded servers: real processes, reused across starts, stopped cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import redis

from storage.embedded import embedded_servers


def test_start_reuse_stop(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    pg, rd = embedded_servers(tmp_path, durable=False)
    dsn, url = pg.start(), rd.start()
    try:
        assert pg.status().running and rd.status().running
        pid = pg.status().pid
        assert pg.start() == dsn and pg.status().pid == pid  # a second start reuses it
        assert rd.start() == url

        async def version() -> str:
            conn = await asyncpg.connect(dsn)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        assert asyncio.run(version()).startswith("18.")
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.info("server")["valkey_version"].startswith("8.")
        client.close()
    finally:
        pg.stop()
        rd.stop()
    assert not pg.status().running and not rd.status().running
    assert (tmp_path / "postgres" / "data" / "PG_VERSION").exists()  # data kept for next run
