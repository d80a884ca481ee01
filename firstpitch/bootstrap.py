"""Bring everything up on embedded defaults: ingest if empty, train and promote if there is
no champion, materialize today's vectors. Each step is skipped when already done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from features.definitions import FEATURE_VERSION
from firstpitch.clock import Clock
from firstpitch.runtime import Endpoints
from firstpitch.settings import Settings
from storage import postgres, registry
from training.dataset import REGISTERED_NAMES

Say = Callable[[str], None]


async def database_is_empty(dsn: str) -> bool:
    conn = await postgres.connect(dsn)
    try:
        await postgres.migrate(conn)
        return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM games)")
    finally:
        await conn.close()


def needs_champion(name: str) -> bool:
    model = registry.bento_champion(name)
    return model is None or model.info.labels.get("feature_version") != FEATURE_VERSION


async def bring_up(settings: Settings, endpoints: Endpoints, say: Say) -> dict[str, Any]:
    from features.materialize import materialize
    from ingest.loader import ingest
    from training.run import run_training

    done: dict[str, Any] = {}
    if await database_is_empty(endpoints.postgres_dsn):
        say(f"database is empty: ingesting {settings.data_dir}")
        conn = await postgres.connect(endpoints.postgres_dsn)
        try:
            summary = await ingest(conn, settings.data_dir, set(range(2005, 2025)))
        finally:
            await conn.close()
        done["ingest"] = {
            "elapsed_s": round(summary.elapsed_s, 2),
            "odds_match_rate": summary.match_rate,
        }
        say(f"ingested in {summary.elapsed_s:.1f} s, odds match rate {summary.match_rate}")
    for target, name in REGISTERED_NAMES.items():
        if needs_champion(name):
            say(f"no champion for {name}: training and promoting")
            report = await run_training(settings, endpoints, target, promote=True)
            done[f"train_{target}"] = report["bento_tag"]
            say(f"promoted {report['bento_tag']}")
    today = Clock(settings.now, settings.tz).today()
    count, elapsed = await materialize(settings, endpoints, on_date=today, season=None)
    done["materialized"] = {"date": today.isoformat(), "vectors": count}
    say(f"materialized {count} feature vectors for {today.isoformat()} in {elapsed:.2f} s")
    return done
