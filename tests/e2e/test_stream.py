"""The event stream through real HTTP: a service of this module's own with TWO API workers,
its own PostgreSQL (the feed writes) and a stream key of its own, clock pinned to
2021-07-04 16:30 UTC — the east's 17:05 games are past their cutoff (their predictions
frozen, odds re-priced), the west's later ones are not (re-predicted)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis.asyncio as aioredis

from firstpitch.settings import Settings
from firstpitch.stream_client import StreamEvent, StreamRefused, client_port, stream_events
from storage.embedded import EmbeddedPostgres
from storage.game_locks import GameLocks
from storage.postgres import connect
from tests.conftest import TEST_ROOT, ingest_all
from tests.e2e.conftest import RunningService, create_key, start_service

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
NOW = "2021-07-04T16:30:00Z"
FROZEN, OPEN = "CIN202107040", "SEA202107040"  # first pitch 17:05 / 20:05 UTC
STREAM_KEY = f"fp:test-events:{uuid.uuid4().hex[:8]}"
PER_KEY = 3


def odds(game: str, minute: int, home: int, away: int) -> dict[str, Any]:
    return {"game_id": game, "market": "moneyline", "source": "book-t",
            "observed_at": f"2021-07-04T16:{minute:02d}:00Z", "home_price": home,
            "away_price": away}  # fmt: skip


@pytest.fixture(scope="module")
def db(data_dir: Path) -> Iterator[str]:
    import asyncio as aio

    server = EmbeddedPostgres(TEST_ROOT / "own" / f"stream-{uuid.uuid4().hex[:8]}", durable=False)
    try:
        dsn = server.start()
        aio.run(ingest_all(dsn, data_dir))
        yield dsn
    finally:
        server.stop()


@pytest.fixture(scope="module")
def svc(
    settings: Settings,
    db: str,
    champions: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningService]:
    running = start_service(
        settings, db, tmp_path_factory.mktemp("stream"),
        FIRSTPITCH_NOW=NOW, FIRSTPITCH_API_WORKERS="2", FIRSTPITCH_STREAM_KEY=STREAM_KEY,
        FIRSTPITCH_STREAM_HEARTBEAT_S="1", FIRSTPITCH_STREAM_MAX_PER_KEY=str(PER_KEY),
        FIRSTPITCH_MAX_IN_FLIGHT="4", FIRSTPITCH_AUTH_REFRESH_S="1",
    )  # fmt: skip
    yield running
    running.stop()


def keyed(svc: RunningService, token: str | None = None, **kw: Any) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else svc.headers
    return httpx.AsyncClient(base_url=svc.url, headers=headers, timeout=60, **kw)


async def feed(svc: RunningService, kind: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    async with keyed(svc) as http:  # a new connection: either worker may take it
        resp = await http.post(f"/api/v1/feed/{kind}", json={"records": records})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


class Listener:
    """One stream client on a connection of its own; records what it receives."""

    def __init__(self, svc: RunningService, params: dict[str, Any] | None = None,
                 last_event_id: str | None = None, token: str | None = None) -> None:  # fmt: skip
        self.http = keyed(svc, token)
        self.params, self.last_event_id = params or {}, last_event_id
        self.events: list[StreamEvent] = []
        self.port: int | None = None
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    def _opened(self, response: httpx.Response) -> None:
        self.port = client_port(response)

    async def _run(self) -> None:
        async for event in stream_events(self.http, self.params, self.last_event_id,
                                         self._opened):  # fmt: skip
            self.events.append(event)
            if event.event == "ready":
                self.ready.set()

    async def opened(self) -> None:
        """Until ``ready`` arrived (a refusal raises)."""
        ready = asyncio.create_task(self.ready.wait())
        await asyncio.wait([ready, self.task], return_when=asyncio.FIRST_COMPLETED)
        if not self.ready.is_set():
            ready.cancel()
            self.task.result()
            raise AssertionError(f"the stream ended before it was ready: {self.events}")

    def ids(self) -> list[str]:
        return [e.id for e in self.events if e.id is not None]

    async def until(self, last_id: str) -> None:
        async with asyncio.timeout(30):
            while last_id not in self.ids():
                if self.task.done():
                    self.task.result()
                    raise AssertionError(f"stream ended before {last_id}: {self.events}")
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        await self.http.aclose()


@contextlib.asynccontextmanager
async def listening(*listeners: Listener) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(x.opened() for x in listeners))
        yield
    finally:
        await asyncio.gather(*(x.close() for x in listeners))


def worker_of(svc: RunningService, port: int) -> int | None:
    """The pid of the service's process holding the server side of a client's connection."""
    server_port = int(svc.url.rsplit(":", 1)[1])
    for proc in psutil.Process(svc.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            for conn in proc.net_connections("tcp"):
                if conn.laddr and conn.laddr.port == server_port and conn.raddr \
                        and conn.raddr.port == port:  # fmt: skip
                    return proc.pid
    return None


async def logged(db: str, sql: str, *args: Any) -> None:
    """Wait until the prediction log holds a record (it is written off the request path)."""
    conn = await connect(db)
    try:
        async with asyncio.timeout(10):
            while not await conn.fetchval(sql, *args):  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def test_every_client_on_either_worker_sees_each_event_once_in_order(
    svc: RunningService, db: str
) -> None:
    listeners: list[Listener] = []
    workers: set[int | None] = set()
    while len(workers - {None}) < 2 and len(listeners) < 24:  # until both workers hold one
        batch = [Listener(svc, token=create_key(db, f"c{len(listeners) + i}", ("predictions",)))
                 for i in range(4)]  # fmt: skip
        listeners += batch
        await asyncio.gather(*(x.opened() for x in batch))
        workers |= {worker_of(svc, x.port) for x in batch if x.port}
    async with listening(*listeners):
        assert len(workers - {None}) == 2, workers
        first = await feed(svc, "odds", [odds(OPEN, 10, -125, 105)])
        second = await feed(svc, "odds", [odds(FROZEN, 11, -150, 130)])
        resend = await feed(svc, "odds", [odds(FROZEN, 11, -150, 130)])
        assert [e["type"] for e in first["events"]] == ["prediction"], first
        assert [e["type"] for e in second["events"]] == ["odds"], second
        assert (resend["unchanged"], resend["events"], resend["repricing"]) == (1, [], "nothing")
        expected = [e["id"] for e in first["events"] + second["events"]]
        for x in listeners:
            await x.until(expected[-1])
        await asyncio.sleep(0.3)  # anything sent twice would have arrived by now
        for x in listeners:
            assert x.ids() == expected, (x.port, x.ids(), expected)
    prediction = next(e for e in listeners[0].events if e.event == "prediction")
    assert prediction.data["game_id"] == OPEN and prediction.data["trigger"] == "odds"
    current = prediction.data["current_price_recommendations"]["moneyline"]
    assert current["odds"] in (-125, 105) and current["priced_at"]["source"] == "book-t"
    repriced = next(e for e in listeners[0].events if e.event == "odds").data
    assert repriced["betting_recommendations"]["moneyline"]["odds"] in (-150, 130)
    assert repriced["feature_cutoff_time"] == "2021-07-04T16:05:00+00:00"
    # The re-prediction is a served prediction: cached and logged with the feed's request id.
    async with keyed(svc) as http:
        cached = (await http.get(f"/api/v1/predict/{OPEN}")).json()
    assert (
        cached["cache_hit"]
        and cached["prediction_timestamp"]
        == (prediction.data["prediction"]["prediction_timestamp"])
    )
    await logged(db, "SELECT count(*) FROM prediction_log WHERE endpoint = 'feed' "
                 "AND request_id = $1", prediction.data["request_id"])  # fmt: skip


async def test_a_result_settles_the_recommendation_standing_at_the_cutoff(
    svc: RunningService, db: str
) -> None:
    game = "PHI202107030"
    async with keyed(svc) as http:
        made = (await http.post("/api/v1/predict", json={"game_id": game})).json()
    await logged(db, "SELECT count(*) FROM prediction_log WHERE game_id = $1", game)
    conn = await connect(db)
    try:
        row = dict(await conn.fetchrow("SELECT * FROM game_results WHERE game_id = $1", game))
    finally:
        await conn.close()
    box = {f"{side}_{s}": row[f"{side}_{s}"] for side in ("home", "away")
           for s in ("h", "hr", "bb", "k", "e", "er")}  # fmt: skip
    corrected = {"game_id": game, **box, "home_score": 1, "away_score": 7,  # was 4-2
                 "known_at": "2021-07-03T20:00:00Z", "duration_min": row["duration_min"]}  # fmt: skip
    x = Listener(svc, {"type": "result", "game_id": game})
    async with listening(x):
        answer = await feed(svc, "results", [corrected])
        assert answer["corrected_games"] == [game] and answer["events"][0]["type"] == "result"
        await x.until(answer["events"][0]["id"])
    result = next(e for e in x.events if e.event == "result").data
    assert (result["home_score"], result["away_score"], result["outcome"]["home_win"]) == (
        1,
        7,
        False,
    )
    bets = result["recommendation"]["betting_recommendations"]
    for market, bet in made["betting_recommendations"].items():
        settled = bets[market]
        assert settled["odds"] == bet["odds"]
        if not bet["recommended"]:
            assert (settled["settled"], settled["profit"]) == ("no_bet", 0.0)
            continue
        total = 8
        if market == "total" and bet["line"] == total:
            assert (settled["settled"], settled["profit"]) == ("push", 0.0)
            continue
        won = (bet["side"] == "away") if market == "moneyline" else (
            (total > bet["line"]) == (bet["side"] == "over"))  # fmt: skip
        assert settled["settled"] == ("won" if won else "lost")
        unit = bet["decimal_odds"] - 1 if won else -1.0
        assert settled["profit"] == pytest.approx(unit * bet["recommended_bet_size"])
    assert result["profit"] == pytest.approx(sum(b["profit"] for b in bets.values()))


async def test_a_late_result_unfreezes_what_was_frozen_without_it(
    svc: RunningService, db: str
) -> None:
    """A result known before a frozen game's cutoff but arriving after its prediction was
    made (a correction here) drops the held answer: the next one is computed with it."""
    async with keyed(svc) as http:
        for _ in range(2):
            resp = await http.post("/api/v1/predict", json={"game_id": FROZEN})
            assert resp.status_code == 200, resp.text
        held = resp.json()
        assert held["cache_hit"] is True
    conn = await connect(db)
    try:
        row = dict(await conn.fetchrow(
            "SELECT r.* FROM game_results r JOIN games g USING (game_id) "
            "WHERE g.game_date = '2021-07-03' AND g.game_id <> 'PHI202107030' "
            "ORDER BY g.game_id LIMIT 1"))  # fmt: skip
    finally:
        await conn.close()
    box = {f"{side}_{s}": row[f"{side}_{s}"] for side in ("home", "away")
           for s in ("h", "hr", "bb", "k", "e", "er")}  # fmt: skip
    corrected = {"game_id": row["game_id"], **box, "home_score": row["home_score"] + 3,
                 "away_score": row["away_score"], "known_at": "2021-07-04T16:00:00Z",
                 "duration_min": row["duration_min"]}  # fmt: skip
    answer = await feed(svc, "results", [corrected])
    assert answer["corrected_games"] == [row["game_id"]]
    async with keyed(svc) as http:
        now = (await http.post("/api/v1/predict", json={"game_id": FROZEN})).json()
    assert now["cache_hit"] is False  # computed afresh, as of the same cutoff
    assert now["feature_cutoff_time"] == held["feature_cutoff_time"]


async def test_a_result_batch_waits_for_the_frozen_games_it_may_change(
    svc: RunningService, db: str, settings: Settings
) -> None:
    """A result known by a frozen game's cutoff changes that game's features, so its batch
    is ordered with the game's other work: while a warm-up or re-pricing holds the game,
    the batch waits (a vector computed without the result cannot land after its drop)."""
    conn = await connect(db)
    try:
        row = dict(await conn.fetchrow(
            "SELECT r.* FROM game_results r JOIN games g USING (game_id) "
            "WHERE g.game_date = '2021-07-03' AND g.game_id <> 'PHI202107030' "
            "ORDER BY g.game_id DESC LIMIT 1"))  # fmt: skip
    finally:
        await conn.close()
    box = {f"{side}_{s}": row[f"{side}_{s}"] for side in ("home", "away")
           for s in ("h", "hr", "bb", "k", "e", "er")}  # fmt: skip
    corrected = {"game_id": row["game_id"], **box, "home_score": row["home_score"],
                 "away_score": row["away_score"] + 2, "known_at": "2021-07-04T16:05:00Z",
                 "duration_min": row["duration_min"]}  # fmt: skip
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    try:
        key = f"fp:feed-lock:{FROZEN}"
        before = (await client.get(key), await client.pttl(key))
        async with GameLocks(client, 60).held([FROZEN], wait_s=30) as taken:
            assert taken, (before, await client.get(key), await client.pttl(key))
            post = asyncio.create_task(feed(svc, "results", [corrected]))
            await asyncio.sleep(1.5)
            assert not post.done()  # waits for the frozen game, which another holds
        async with asyncio.timeout(30):
            answer = await post
    finally:
        await client.aclose()
    assert answer["corrected_games"] == [row["game_id"]]


async def test_filters_pick_games_dates_types_and_edges(svc: RunningService, db: str) -> None:
    def listen(**params: Any) -> Listener:
        return Listener(
            svc, params | {"max_seconds": 8}, token=create_key(db, "f", ("predictions",))
        )

    by_game = listen(game_id=FROZEN)
    predictions = listen(type="prediction")
    edgy = listen(min_edge=0.99)  # no bet has such an edge
    other_day = listen(date="2021-07-05")
    everyone = (by_game, predictions, edgy, other_day)
    async with listening(*everyone):
        a = await feed(svc, "odds", [odds(OPEN, 20, -118, 100), odds(FROZEN, 20, -160, 140)])
        b = await feed(svc, "status", [{"game_id": "NYA202107042", "status": "postponed",
                                        "reason": "rain", "known_at": "2021-07-04T16:15:00Z"}])  # fmt: skip
        published = {e["id"]: e for e in a["events"] + b["events"]}
        assert sorted(e["type"] for e in published.values()) == ["odds", "prediction", "status"]
        for x in everyone:
            async with asyncio.timeout(30):
                await x.task

    def seen(x: Listener) -> list[str]:
        return [i for i in x.ids() if i in published]

    assert [published[i]["game_id"] for i in seen(by_game)] == [FROZEN]
    assert [published[i]["type"] for i in seen(predictions)] == ["prediction"]
    assert [published[i]["type"] for i in seen(edgy)] == ["status"]  # edges bind bets only
    assert seen(other_day) == []
    assert (
        other_day.events[-1].event == "end" and other_day.events[-1].data["reason"] == "max_seconds"
    )
    assert any(e.event == "heartbeat" for e in other_day.events)


async def test_feeders_racing_on_one_game_publish_in_commit_order(svc: RunningService) -> None:
    """Snapshots of one game posted at once, through both workers: each re-prediction sees
    every snapshot committed before it, so no event carries an older price than one before
    it, and the game's last event carries the newest."""
    game = "ANA202107040"  # 20:05 UTC: before its cutoff

    def order(stream_id: str) -> tuple[int, ...]:
        return tuple(int(p) for p in stream_id.split("-"))

    listener = Listener(svc, {"game_id": game})
    async with listening(listener):
        for round_ in range(4):
            minutes = range(5 * round_ + 1, 5 * round_ + 5)  # 4: what a worker lets in at once
            snaps = [odds(game, m, -110 - m, 100 + m) | {"source": f"race-{m}"} for m in minutes]
            answers = await asyncio.gather(*(feed(svc, "odds", [snap]) for snap in snaps))
            ids = [e["id"] for a in answers for e in a["events"]]
            assert len(ids) == len(snaps), answers
            await listener.until(max(ids, key=order))
            events = [e for e in listener.events if e.id in ids]
            assert [e.id for e in events] == sorted(ids, key=order)
            seen = [
                datetime.fromisoformat(
                    e.data["current_price_recommendations"]["moneyline"]["priced_at"]["observed_at"]
                ).minute
                for e in events
            ]
            assert seen == sorted(seen) and seen[-1] == minutes[-1], seen


async def test_a_moved_game_drops_what_was_held_for_its_old_first_pitch(
    svc: RunningService,
) -> None:
    """A game moved later is re-predicted for its new first pitch; one called off keeps no
    vector or answer computed for the time it no longer has, and is not predicted (409)."""
    moved, called_off = "KCA202107040", "COL202107040"  # 18:05 and 19:05 UTC
    async with keyed(svc) as http:
        for game in (moved, called_off):
            resp = await http.post("/api/v1/predict", json={"game_id": game})
            assert resp.status_code == 200, resp.text
        again = (await http.get(f"/api/v1/predict/{called_off}")).json()
        assert again["cache_hit"] is True  # held until the status change below
    answer = await feed(svc, "status", [
        {"game_id": moved, "status": "rescheduled", "scheduled_start": "2021-07-04T23:40:00Z",
         "reason": "rain", "known_at": "2021-07-04T16:20:00Z"},
        {"game_id": called_off, "status": "postponed", "reason": "rain",
         "known_at": "2021-07-04T16:21:00Z"},
    ])  # fmt: skip
    published = sorted((e["type"], e["game_id"]) for e in answer["events"])
    assert published == [("prediction", moved), ("status", called_off), ("status", moved)]
    async with keyed(svc) as http:
        now_moved = (await http.get(f"/api/v1/predict/{moved}")).json()
        now_off = await http.get(f"/api/v1/predict/{called_off}")
        in_batch = await http.post("/api/v1/predict/batch", json={"game_ids": [moved, called_off]})
    assert now_moved["cache_hit"] is True  # the re-prediction, made for the new time
    assert datetime.fromisoformat(now_moved["scheduled_start"]) == datetime(
        2021, 7, 4, 23, 40, tzinfo=UTC
    )
    assert datetime.fromisoformat(now_moved["feature_cutoff_time"]) == datetime(
        2021, 7, 4, 22, 40, tzinfo=UTC
    )
    # The held answer was dropped with the vector, and a called-off game is not predicted
    # (a batch naming one is refused whole).
    for refused in (now_off, in_batch):
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert (
            body["error"] == "game_called_off"
            and f"game {called_off} is postponed" in body["message"]
        )


@pytest.mark.parametrize("params, headers", [
    ({"date": "2021-13-01"}, {}), ({"min_edge": "2"}, {}), ({"game_id": "cin2021"}, {}),
    ({"type": "everything"}, {}), ({"max_seconds": "0"}, {}), ({}, {"Last-Event-ID": "abc"}),
    ({"after": "12-"}, {}), ({"after": "1-2-3"}, {}),
])  # fmt: skip
async def test_bad_filter_values_are_422(
    svc: RunningService, params: dict[str, str], headers: dict[str, str]
) -> None:
    async with keyed(svc) as http:
        resp = await http.get("/api/v1/stream", params=params, headers=headers)
    assert resp.status_code == 422 and resp.json()["error"] == "validation_error", resp.text


async def test_same_auth_as_predictions_and_a_bounded_number_per_key(
    svc: RunningService, db: str
) -> None:
    async with httpx.AsyncClient(base_url=svc.url, timeout=30) as anonymous:
        assert (await anonymous.get("/api/v1/stream")).status_code == 401
    for scopes in (("feed",), ("models",)):
        with pytest.raises(StreamRefused) as refused:
            async with keyed(svc, create_key(db, "-".join(scopes), scopes)) as http:
                async for _ in stream_events(http):
                    break
        assert refused.value.status == 403
    token = create_key(db, "streamer", ("predictions",))
    held = [Listener(svc, token=token) for _ in range(PER_KEY)]
    async with listening(*held):
        with pytest.raises(StreamRefused) as refused:
            async with keyed(svc, token) as http:
                async for _ in stream_events(http):
                    break
        assert refused.value.status == 429 and refused.value.body["error"] == "too_many_streams"
        await held[0].close()  # its lease is given back: another may open
        again = Listener(svc, token=token)
        async with listening(again):
            assert again.ready.is_set()
        assert held[0].ready.is_set()


async def test_open_streams_leave_the_request_budget_alone(svc: RunningService, db: str) -> None:
    # 12 streams on 2 workers whose in-flight budget is 4 each: were they counted, a worker
    # holding more than 4 would shed every request below.
    tokens = [create_key(db, f"budget-{i}", ("predictions",)) for i in range(4)]
    streams = [Listener(svc, token=tokens[i % 4]) for i in range(12)]
    async with listening(*streams):
        for _ in range(8):
            async with keyed(svc) as http:  # a new connection each: both workers answer
                resp = await http.post("/api/v1/predict", json={"game_id": OPEN})
                assert resp.status_code == 200, resp.text
                assert (await http.get("/health/ready")).status_code == 200


async def test_resume_with_last_event_id_and_a_resume_past_the_retention(
    svc: RunningService, settings: Settings, db: str
) -> None:
    first = await feed(svc, "odds", [odds(OPEN, 25, -121, 101)])
    second = await feed(svc, "odds", [odds(FROZEN, 25, -161, 141), odds(OPEN, 26, -122, 102)])
    ids = [e["id"] for e in first["events"] + second["events"]]
    assert len(ids) == 3
    header = Listener(svc, {"max_seconds": 3}, last_event_id=ids[0])
    query = Listener(
        svc, {"max_seconds": 3, "after": ids[0]}, token=create_key(db, "q", ("predictions",))
    )
    async with listening(header, query):
        for x in (header, query):
            await x.task
            assert x.ids() == ids[1:], x.ids()  # the rest, in order, once
            assert not any(e.event == "missed" for e in x.events)
    # Trim the stream as retention would, then resume from before what is left.
    redis = aioredis.Redis.from_url(settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    try:
        await redis.xtrim(STREAM_KEY, maxlen=1, approximate=False)
    finally:
        await redis.aclose()
    late = Listener(svc, {"max_seconds": 3}, last_event_id=ids[0])
    unknown = Listener(svc, {"max_seconds": 3}, last_event_id="99999999999999-0",
                       token=create_key(db, "u", ("predictions",)))  # fmt: skip
    async with listening(late, unknown):
        for x in (late, unknown):
            await x.task
        kinds = [e.event for e in late.events]
        assert kinds[:2] == ["ready", "missed"] and late.ids() == ids[-1:], late.events
        assert "missed" in [e.event for e in unknown.events]


def test_streams_end_on_shutdown(svc: RunningService) -> None:
    """Last in this module: it stops the module's service."""

    async def run() -> tuple[list[StreamEvent], float]:
        x = Listener(svc)
        await x.opened()
        loop = asyncio.get_running_loop()
        started = loop.time()
        stopping = loop.run_in_executor(None, svc.stop)
        async with asyncio.timeout(20):
            await x.task  # the server ends the stream (an endless one otherwise)
        ended = loop.time() - started
        assert await stopping == 0
        await x.http.aclose()
        return x.events, ended

    events, ended = asyncio.run(run())
    assert events[-1].event == "end" and events[-1].data["reason"] == "shutdown", events
    assert ended < 10, ended
