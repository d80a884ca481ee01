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

        async def show(setting: str) -> str:
            conn = await asyncpg.connect(dsn)
            try:
                return str(await conn.fetchval(f"SHOW {setting}"))
            finally:
                await conn.close()

        assert asyncio.run(show("server_version")).startswith("18.")
        assert asyncio.run(show("max_wal_size")) == "4GB"  # checkpoints far apart under load
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
