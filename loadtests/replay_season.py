"""A month of a real season replayed through a running service, end to end, and checked.

Starts a PostgreSQL and a Valkey of its own (in a temporary directory) holding the history
before ``--from``, serves them with a drivable clock (two API workers, keys on, the champions
of the project's state), attaches a stream client, and plays ``--from``..``--to`` through the
public API with ``firstpitch replay``'s driver, at full speed. Reports events/s, the
feed-POST-to-stream-event latency, the performance figures for the range and the checks
(replay/checks.py): a cutoff prediction per game with the offline frame's vector, the
endpoint's figures equal to a recomputation from the log, every event seen once in order.

Usage: .venv/bin/python loadtests/replay_season.py [--from 2021-06-01] [--to 2021-06-30]
       [--json] [--out reports/replay/summary.json]
Needs the project's champions (`firstpitch up` once). Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from features.definitions import FEATURE_VERSION
from features.store import FeatureStore
from firstpitch.runtime import Endpoints, configure_environment
from firstpitch.serve import launch, stop, wait_ready
from firstpitch.settings import PROJECT_ROOT, Settings
from firstpitch.stream_client import StreamEvent, stream_events
from ingest.history_cut import keep_before
from ingest.loader import ingest
from replay import checks
from replay.driver import play
from replay.timeline import build
from storage import api_keys, postgres
from storage.embedded import EmbeddedPostgres, EmbeddedValkey, free_port


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def prepare(dsn: str, data_dir: Path, first: date) -> str:
    conn = await postgres.connect(dsn)
    try:
        await ingest(conn, data_dir, set(range(2005, first.year + 1)))
        await keep_before(conn, first)
        _, key = await api_keys.create(conn, "replay", ["feed", "predictions", "models"], 10**9)
    finally:
        await conn.close()
    return key


async def run(
    url: str, dsn: str, redis_url: str, key: str, data_dir: Path, first: date, last: date
) -> dict[str, Any]:
    events = build(data_dir, first, last)
    auth = {"Authorization": f"Bearer {key}"}
    sent: dict[str, float] = {}
    seen: list[StreamEvent] = []
    ready = asyncio.Event()

    async def listen() -> None:
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=None) as http:
            async for event in stream_events(http):
                if event.event == "ready":
                    ready.set()
                elif event.id is not None:
                    seen.append(event)

    def on_answer(_kind: str, at: float, answer: dict[str, Any]) -> None:
        for ref in answer.get("events", ()):
            sent[ref["id"]] = at

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(ready.wait(), 60)
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=120) as http:
        report = (await play(http, events, on_answer=on_answer)).to_dict()
        deadline = time.monotonic() + 60
        while len(seen) < len(sent) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        listener.cancel()
        latencies = [(e.received - sent[e.id]) * 1000 for e in seen if e.id in sent]
        conn = await postgres.connect(dsn)
        try:
            vectors = await checks.cutoff_vectors(conn, {e.game_id for e in events}, 60)
            rows = vectors.pop("offline_rows")
            client = aioredis.Redis.from_url(redis_url)
            try:
                held, _ = await FeatureStore(client, 3600).read(list(rows), FEATURE_VERSION)
            finally:
                await client.aclose()
            vectors["differ_features"] = {
                g: checks.differing_features(held[g].values, rows[g]) if g in held else "not held"
                for g in rows
            }
            figures = await checks.performance(http, conn, first, last, events[-1].at)
        finally:
            await conn.close()
    ids = [e.id for e in seen]
    stream = {
        "published": len(sent),
        "received": len(seen),
        "once_in_order": ids == sorted(sent, key=lambda i: tuple(map(int, i.split("-")))),
        "latency_ms": {"p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99),
                       "max": pct(latencies, 1.0),
                       "mean": round(statistics.fmean(latencies), 2) if latencies else None},
    }  # fmt: skip
    return {"replay": report, "stream": stream, "vectors": vectors, "performance": figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="first", default="2021-06-01")
    parser.add_argument("--to", dest="last", default="2021-06-30")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "reports" / "replay" / "summary.json"
    )
    args = parser.parse_args()
    first, last = date.fromisoformat(args.first), date.fromisoformat(args.last)
    settings = Settings()
    configure_environment(settings)
    root = Path(tempfile.mkdtemp(prefix="replay-season-", dir=settings.state_dir))
    root.chmod(0o755)
    pg, valkey = (
        EmbeddedPostgres(root / "postgres", durable=False),
        EmbeddedValkey(root / "redis", durable=False),
    )
    proc = None
    try:
        dsn, redis_url = pg.start(), valkey.start()
        t0 = time.perf_counter()
        key = asyncio.run(prepare(dsn, settings.data_dir, first))
        setup_s = time.perf_counter() - t0
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        start = first - timedelta(days=1)
        proc = launch(settings, Endpoints(dsn, redis_url), "127.0.0.1", port,
                      FIRSTPITCH_CLOCK_DRIVABLE="true", FIRSTPITCH_NOW=f"{start}T12:00:00Z",
                      FIRSTPITCH_API_WORKERS="2", FIRSTPITCH_AUTH_ENABLED="true",
                      FIRSTPITCH_SPILL_DIR=str(root / "spill"))  # fmt: skip
        if not wait_ready(url, proc):
            print("the service did not become ready", file=sys.stderr)
            return 1
        summary = asyncio.run(run(url, dsn, redis_url, key, settings.data_dir, first, last))
    finally:
        if proc is not None:
            stop(proc)
        valkey.stop()
        pg.stop()
    summary["setup_s"] = round(setup_s, 1)
    summary["range"] = [first.isoformat(), last.isoformat()]
    summary["machine"] = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    ok = (
        summary["stream"]["once_in_order"]
        and summary["stream"]["received"] == summary["stream"]["published"]
        and not summary["vectors"]["missing"]
        and not summary["vectors"]["differ"]
        and not any(v["differ"] for v in summary["performance"].values())
    )
    summary["ok"] = ok
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, default=str))
    print(
        json.dumps(summary, default=str)
        if args.json
        else json.dumps(summary, indent=2, default=str)
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
