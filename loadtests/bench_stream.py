"""Benchmark: from a feed POST of an odds snapshot to its event at the stream's clients.

A service with two API workers (clock pinned to 2021-07-04 16:30 UTC: the 17:05 games are
between their cutoff and first pitch, so each snapshot re-prices a frozen prediction into an
``odds`` event); clients in processes of their own (``--client`` mode: 25 streams each, over
their own connections, spread by the kernel over both workers); the feeder POSTs snapshots
one after another and notes when each was sent; each client notes when each event arrived.
Latency = arrival - send (one clock: all on this machine). Runs 1 client, then 100 (the peer
and the target), then 100 clients with snapshots for a game before its cutoff (``prediction``
events: the vector is recomputed, ~0.35 s until the incremental features replace it). A
second peer, ``feed_write_only``: the answer time of a POST whose snapshot is already held
(validation, the transaction, nothing re-priced or published).

Usage: .venv/bin/python loadtests/bench_stream.py [--posts 200] [--clients 100]
       [--out reports/bench_stream.json]
Runs on the configured (or embedded) servers with its own stream key; the snapshots it sends
(source ``bench-<run>``) are deleted at the end. Keys off (the per-key stream limit would
otherwise need raising; access control is measured by bench_service.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from loadtests.harness.reports import machine, write_json
from loadtests.harness.stack import launch_service, open_stack, service_ready, stop_service
from loadtests.harness.stats import with_max as percentiles

PINNED = "2021-07-04T16:30:00Z"
FROZEN = ["CIN202107040", "ATL202107040", "PHI202107040", "PIT202107040", "TOR202107040",
          "WAS202107040", "CLE202107040", "DET202107040"]  # fmt: skip
OPEN = ["SEA202107040", "OAK202107040", "ANA202107040"]  # cutoff 19:05 UTC
PER_PROCESS = 25


# ---------------------------------------------------------------------------- client mode
async def client_main(url: str, n: int, types: list[str]) -> None:
    from firstpitch.stream_client import stream_events

    arrivals: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    ready = [asyncio.Event() for _ in range(n)]

    async def listen(i: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=None) as http:
            async for event in stream_events(http, {"type": types}):
                if event.event == "ready":
                    ready[i].set()
                elif event.id is not None:
                    arrivals[i].append((event.id, event.received))

    tasks = [asyncio.create_task(listen(i)) for i in range(n)]
    await asyncio.gather(*(r.wait() for r in ready))
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    last = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(a and a[-1][0] == last for a in arrivals):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    print(json.dumps(arrivals), flush=True)


# ---------------------------------------------------------------------------- feeder
def start_clients(url: str, total: int, types: list[str]) -> list[subprocess.Popen[str]]:
    procs = []
    for start in range(0, total, PER_PROCESS):
        n = min(PER_PROCESS, total - start)
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--client", url, "--n", str(n), "--types", *types],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))  # fmt: skip
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("a client process did not connect")
    return procs


async def post_snapshots(url: str, games: list[str], posts: int, source: str, offset: int
                         ) -> list[tuple[str, float, float]]:  # fmt: skip
    """(event id, sent, answered) per POST, one after another."""
    out = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for i in range(posts):
            game = games[i % len(games)]
            second = offset + i
            record = {"game_id": game, "market": "moneyline", "source": source,
                      "observed_at": f"2021-07-04T15:{second // 60:02d}:{second % 60:02d}Z",
                      "home_price": -110 - (i % 60), "away_price": 100 + (i % 50)}  # fmt: skip
            sent = time.time()
            resp = await http.post("/api/v1/feed/odds", json={"records": [record]})
            answered = time.time()
            body = resp.json()
            if resp.status_code != 200 or len(body["events"]) != 1:
                raise SystemExit(f"feed answered {resp.status_code}: {resp.text[:300]}")
            out.append((body["events"][0]["id"], sent, answered))
            await asyncio.sleep(0.01)
    return out


async def resends(url: str, game: str, posts: int, source: str) -> list[float]:
    """The peer: the feed's own write path, a snapshot already held (nothing re-priced)."""
    record = {"game_id": game, "market": "moneyline", "source": source,
              "observed_at": "2021-07-04T15:00:00Z", "home_price": -110, "away_price": 100}  # fmt: skip
    out = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        await http.post("/api/v1/feed/odds", json={"records": [record]})  # now it is held
        for _ in range(posts):
            sent = time.time()
            resp = await http.post("/api/v1/feed/odds", json={"records": [record]})
            out.append((time.time() - sent) * 1000)
            if resp.status_code != 200 or resp.json()["repricing"] != "nothing":
                raise SystemExit(f"feed answered {resp.status_code}: {resp.text[:300]}")
            await asyncio.sleep(0.01)
    return out


def phase(url: str, clients: int, games: list[str], posts: int, source: str, offset: int,
          types: list[str]) -> dict[str, Any]:  # fmt: skip
    procs = start_clients(url, clients, types)
    try:
        sent = asyncio.run(post_snapshots(url, games, posts, source, offset))
        arrivals: list[list[tuple[str, float]]] = []
        for proc in procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(sent[-1][0] + "\n")
            proc.stdin.flush()
            arrivals += json.loads(proc.stdout.readline())
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    when = {sid: t for sid, t, _ in sent}
    wanted = [sid for sid, _, _ in sent]
    latencies = [(t - when[sid]) * 1000 for a in arrivals for sid, t in a if sid in when]
    complete = sum(1 for a in arrivals if [sid for sid, _ in a] == wanted)
    return {"clients": clients, "posts": posts,
            "clients_with_every_event_once_in_order": complete,
            "post_to_event": percentiles(latencies),
            "post_answer": percentiles([(a - s) * 1000 for _, s, a in sent])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("reports/bench_stream.json"))
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--types", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(client_main(args.client, args.n, args.types))
        return
    from firstpitch.bootstrap import bring_up
    from storage import postgres
    from storage.embedded import free_port

    stack = open_stack(PINNED)
    endpoints = stack.endpoints
    asyncio.run(bring_up(stack.settings, endpoints, print))
    run = uuid.uuid4().hex[:8]
    source = f"bench-{run}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = launch_service(stack, port, None, FIRSTPITCH_NOW=PINNED,
                          FIRSTPITCH_AUTH_ENABLED="false", FIRSTPITCH_API_WORKERS="2",
                          FIRSTPITCH_STREAM_KEY=f"fp:bench-events:{run}")  # fmt: skip
    report: dict[str, Any] = {"machine": machine(), "pinned_now": PINNED, "api_workers": 2}
    try:
        if not service_ready(url, proc):
            raise SystemExit("the service did not become ready")
        asyncio.run(post_snapshots(url, FROZEN, 10, source, 0))  # warm-up
        report["feed_write_only"] = percentiles(asyncio.run(resends(url, FROZEN[0], args.posts,
                                                                    source)))  # fmt: skip
        report["odds_1_client"] = phase(url, 1, FROZEN, args.posts, source, 100, ["odds"])
        report[f"odds_{args.clients}_clients"] = phase(url, args.clients, FROZEN, args.posts,
                                                       source, 400, ["odds"])  # fmt: skip
        report[f"prediction_{args.clients}_clients"] = phase(
            url, args.clients, OPEN, max(10, args.posts // 10), source, 700, ["prediction"]
        )
    finally:
        stop_service(proc)

        async def clean() -> None:
            conn = await postgres.connect(endpoints.postgres_dsn)
            await conn.execute("DELETE FROM odds_snapshots WHERE source = $1", source)
            await conn.close()

        asyncio.run(clean())
    write_json(args.out, report)


if __name__ == "__main__":
    main()
