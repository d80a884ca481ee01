"""The prediction log's writer process: frames come out whole however the stream is cut, a
frame's records are the ones the API worker would make, and a real writer process fed
through its relay writes every record to PostgreSQL, or hands logging back when it dies."""

from __future__ import annotations

import asyncio
import functools
import operator
import os
import socket
from pathlib import Path
from typing import Any

import asyncpg
import msgpack
import pytest

from firstpitch.serving import log_relay, log_writer, shaping
from firstpitch.serving.log_lines import records
from firstpitch.serving.log_relay import LogRelay
from firstpitch.serving.log_writer import MAX_FRAME, Writer, frame, frames
from storage.log_vectors import Vectors
from storage.prediction_log import LogFull, LogStats
from tests.storage.test_prediction_log import POLICY, VECTOR, _dsn, count, wait_until

BASE = {"request_id": "q1", "endpoint": "predict_batch", "model_name": "firstpitch-home-win",
        "model_version": "3", "home_model_version": "3", "total_model_version": "2",
        "predicted_at": "2021-07-04T15:00:00+00:00", "policy": POLICY, "shadow": False}  # fmt: skip
fields = operator.itemgetter(*shaping.RECORD_FIELDS)


def entry(i: int) -> dict[str, Any]:
    """A game's answer as the predictor makes it (and the cache holds it)."""
    odds = {"open_ml_home": -120.0 - i, "open_ml_away": 110.0, "open_total": 8.5,
            "open_over_price": -110.0, "open_under_price": -110.0}  # fmt: skip
    return {
        "game_id": f"CIN20210704{i % 10}", "home_team": "CIN", "away_team": "PIT",
        "feature_version": "fs1", "feature_as_of": "2021-07-04T13:00:00+00:00",
        "feature_cutoff_time": "2021-07-04T14:00:00+00:00", "feature_hash": f"{i:064x}",
        "home_ml_probability": 0.5 + i / 1000, "total_over_probability": 0.48,
        "odds_used": odds, "betting_recommendations": {"moneyline": {"recommended": i % 2 == 0}},
        "feature_vector": VECTOR.tobytes(), "explanation": None,
    }  # fmt: skip


def test_frames_cut_anywhere_come_out_whole() -> None:
    sent = [(BASE | {"request_id": f"q{i}"}, 1.5, [fields(entry(i))], [False]) for i in range(3)]
    data = b"".join(b"".join(frame(*f)) for f in sent)
    for cut in range(0, len(data) + 1, 37):
        buf = bytearray(data[:cut])
        got = frames(buf)
        buf += data[cut:]
        got += frames(buf)
        assert [g[0]["request_id"] for g in got] == ["q0", "q1", "q2"] and not buf


def test_a_corrupt_length_is_refused() -> None:
    with pytest.raises(ValueError, match="corrupt"):
        frames(bytearray((MAX_FRAME + 1).to_bytes(4, "little") + b"x" * 8))


def test_a_frames_records_are_the_workers_own() -> None:
    hit, computed = entry(1), entry(2)
    raw = msgpack.packb(hit, use_bin_type=True)
    got = records((BASE, 2.5, [raw, fields(computed)], [True, False]))
    want = [shaping.record(BASE, hit, True, 2.5), shaping.record(BASE, computed, False, 2.5)]
    assert len({g.pop("record_id") for g in got} | {w.pop("record_id") for w in want}) == 4
    assert got == want


def test_a_frames_challengers_are_pickled_once_a_set_and_read_back_as_sent() -> None:
    """The worker frames the same challenger tuple every request: its pickle is made once,
    another tuple (a new set) gets its own, and the writer reads each back as it was."""
    from firstpitch.serving.shadow import Challenger

    first = (Challenger("home_win", {"name": "h", "version": "2"}, ("2", "1")),)
    second = (Challenger("home_win", {"name": "h", "version": "3"}, ("3", "1")),)
    known: dict[bytes, tuple[Any, ...]] = {}
    f = (BASE, 1.0, [fields(entry(0))], [False])
    named = log_writer._named(first)
    assert log_writer._named(first) is named  # the same pickle, not made again
    assert log_writer._named(second) != named
    sent = [frame(*f, first), frame(*f, first), frame(*f, second)]
    got = frames(bytearray(b"".join(b"".join(part) for part in sent)))
    assert got[0][4] == named
    assert [log_writer.challengers_of(g[4], known) for g in got] == [first, first, second]
    assert len(known) == 2


class _Taken:
    """A logger that only counts (what the writer does with a logger is not at issue)."""

    depth = queued_bytes = 0

    def __init__(self) -> None:
        self.taken = 0
        self.stats = LogStats()
        self.vectors = Vectors()

    def queue_lines(self, lines: list[bytes]) -> None:
        self.taken += len(lines)


async def test_a_writer_behind_its_worker_still_lets_its_other_tasks_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Data waiting in the socket makes every read return at once: the writer must yield
    between reads, or its COPYs and reports wait until the worker goes quiet."""
    monkeypatch.setattr(log_writer, "READ_BYTES", 4096)
    ours, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sent = [(BASE, 1.0, [fields(entry(i))], [False]) for i in range(300)]
    ours.sendall(b"".join(b"".join(frame(*f)) for f in sent))  # all of it waits at once
    ours.shutdown(socket.SHUT_WR)
    theirs.setblocking(False)
    logger = _Taken()
    writer = Writer(theirs, logger)  # type: ignore[arg-type]
    seen: list[int] = []

    async def probe() -> None:
        while True:
            seen.append(logger.taken)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(probe())
    await asyncio.sleep(0)
    try:
        await asyncio.wait_for(writer.run(), 30)
    finally:
        watcher.cancel()
        ours.close()
        theirs.close()
    assert logger.taken == 300
    assert any(0 < n < 300 for n in seen), seen  # it ran while the writer was mid-stream


def _config(conn: asyncpg.Connection, spill: Path) -> dict[str, Any]:
    bounds = {"batch_size": 500, "flush_interval": 0.05, "max_records": 4000,
              "max_bytes": 8 << 20, "max_spill_bytes": 1 << 30}  # fmt: skip
    return {"dsn": _dsn(conn), "connect_timeout_s": 5, "spill_dir": str(spill), "logger": bounds,
            "nice": 7}  # fmt: skip


async def test_a_relay_and_its_writer_log_every_record(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    relay = LogRelay(_config(scratch_db, tmp_path / "spill"))
    relay.start()
    try:
        assert relay.proc is not None
        # below the worker's priority: the config's nice, added to this process's own
        want = os.getpriority(os.PRIO_PROCESS, 0) + 7
        for _ in range(200):  # it lowers its own priority as it starts
            if os.getpriority(os.PRIO_PROCESS, relay.proc.pid) == want:
                break
            await asyncio.sleep(0.05)
        assert os.getpriority(os.PRIO_PROCESS, relay.proc.pid) == want
        for i in range(200):  # 10,000 records: more than the socket holds at once
            games = [fields(entry(j)) for j in range(50)]
            base = BASE | {"request_id": f"q{i}"}
            # a full socket refuses (the worker would log them itself): here they wait
            await wait_until(functools.partial(_sent, relay, base, games), seconds=30)
        # its PostgreSQL backends (on this machine) run at the writer's priority too
        backends = await scratch_db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = "
            "current_database()",
            log_writer.APPLICATION_NAME,
        )
        assert backends
        assert {os.getpriority(os.PRIO_PROCESS, r["pid"]) for r in backends} == {want}
    finally:
        await relay.close()
    assert relay.proc is not None and relay.proc.returncode == 0 and not relay.alive
    # A burst faster than PostgreSQL takes it: what found the writer's queue full is spilled
    # (replayed by the next writer); nothing is lost, nothing is counted twice.
    spilled = sum(p.read_bytes().count(b"\n") for p in (tmp_path / "spill").glob("spill-*"))
    assert await count(scratch_db) == relay.written and spilled == relay.spilled
    assert relay.written + relay.spilled == 10_000 == relay.received
    replayer = LogRelay(_config(scratch_db, tmp_path / "spill"))
    replayer.start()
    try:
        await wait_until(lambda: _written(scratch_db, 10_000), seconds=30)
    finally:
        await replayer.close()
    per_request = await scratch_db.fetch(
        "SELECT count(*) AS n FROM prediction_log GROUP BY request_id"
    )
    assert {r["n"] for r in per_request} == {50} and len(per_request) == 200


async def test_a_writer_that_dies_hands_logging_back_until_it_is_replaced(
    scratch_db: asyncpg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_relay, "RESTART_S", 0.3)
    relay = LogRelay(_config(scratch_db, tmp_path / "spill"))
    relay.start()
    try:
        assert relay.send(BASE, 1.0, [fields(entry(1))], [False])
        await wait_until(lambda: _written(scratch_db, 1))
        first = relay.proc
        assert first is not None
        first.kill()
        await wait_until(lambda: _gone(relay))
        assert not relay.send(BASE, 1.0, [fields(entry(2))], [False])  # logged in process
        relay.revive()  # too soon: still none
        assert not relay.alive
        await asyncio.sleep(0.4)
        relay.revive()
        assert relay.alive and relay.proc is not None and relay.proc.pid != first.pid
        assert first.returncode is not None  # the lost one was reaped
        assert relay.send(BASE, 1.0, [fields(entry(3))], [False])
        await wait_until(lambda: _written(scratch_db, 2))
    finally:
        await relay.close()
    assert relay.proc is not None and relay.proc.returncode == 0


async def _written(conn: asyncpg.Connection, n: int) -> bool:
    return await count(conn) == n


async def _gone(relay: LogRelay) -> bool:
    return not relay.alive


async def _sent(relay: LogRelay, base: dict[str, Any], games: list[Any]) -> bool:
    return relay.send(base, 1.0, games, [False] * len(games))


class _Shadows:
    """Records how the frames that name challengers reach the scoring."""

    scored = failed = 0

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def lines_many(self, frames: list[Any], vectors: Vectors) -> list[bytes]:
        self.calls.append(len(frames))
        return [b"shadow\n"] * len(frames)


async def _feed(ours: socket.socket, sent: list[tuple[Any, ...]], gap: float) -> None:
    """The frames, naming a challenger, one read each (``gap`` apart)."""
    for f in sent:
        ours.sendall(b"".join(frame(*f, ("c",))))
        await asyncio.sleep(gap)


async def _until(check: Any) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not in time")


async def test_frames_that_name_challengers_are_scored_a_window_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Frames of separate reads wait for one scoring call (at most SHADOW_WAIT_S, or
    SHADOW_GAMES games); their served records are queued at once; whatever still waits when
    the worker closes its socket is scored before the writer ends."""
    monkeypatch.setattr(log_writer, "SHADOW_WAIT_S", 1.0)
    monkeypatch.setattr(log_writer, "SHADOW_GAMES", 10)
    monkeypatch.setattr(log_writer, "PACE_S", 0.0)
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    logger, shadows = _Taken(), _Shadows()
    writer = Writer(theirs, logger, shadows)  # type: ignore[arg-type]
    task = asyncio.create_task(writer.run())
    try:
        one_game = [(BASE, 1.0, [fields(entry(i))], [False]) for i in range(4)]
        await _feed(ours, one_game, 0.02)  # four reads, within one window
        await _until(lambda: logger.taken == 4)
        assert shadows.calls == []  # served at once, the challengers wait
        await _until(lambda: shadows.calls != [])
        assert shadows.calls == [4] and logger.taken == 8  # the window ended: one call

        batch = [(BASE, 1.0, [fields(entry(i)) for i in range(6)], [False] * 6)] * 2
        await _feed(ours, batch, 0.02)  # 12 games: past SHADOW_GAMES, no wait
        await _until(lambda: shadows.calls == [4, 2])
        await _feed(ours, one_game[:1], 0)  # waits, then the worker closes
        ours.shutdown(socket.SHUT_WR)
        await asyncio.wait_for(task, 5)
        assert shadows.calls == [4, 2, 1] and logger.taken == (4 + 4) + (12 + 2) + (1 + 1)
    finally:
        task.cancel()
        ours.close()
        theirs.close()


async def test_a_writer_stopped_before_its_worker_closed_queues_what_is_in_the_socket() -> None:
    """At a signal's deadline the writer drains: the whole frames already sent are queued,
    the one cut short is not, and the worker's next send fails (it then logs in process)."""
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    sent = [(BASE, 1.0, [fields(entry(i)) for i in range(3)], [False] * 3) for _ in range(5)]
    ours.sendall(b"".join(b"".join(frame(*f, ("c",))) for f in sent))
    head, payload = frame(*sent[0])
    ours.sendall(head + payload[:10])  # a frame still being sent
    logger, shadows = _Taken(), _Shadows()
    writer = Writer(theirs, logger, shadows)  # type: ignore[arg-type]
    try:
        assert await writer.drain(5)
        assert logger.taken == 15 and shadows.calls == []  # served records only
        with pytest.raises(BrokenPipeError):
            ours.send(payload[10:])
    finally:
        ours.close()
        theirs.close()


async def test_a_drain_that_cannot_queue_gives_up_in_time() -> None:
    """PostgreSQL down and the spill full: the drain does not hold the stopping writer."""

    class Full(_Taken):
        retry_interval = 0.01

        def queue_lines(self, lines: list[bytes]) -> None:
            raise LogFull("the spill is full")

    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    ours.sendall(b"".join(frame(BASE, 1.0, [fields(entry(0))], [False])))
    writer = Writer(theirs, Full())  # type: ignore[arg-type]
    try:
        assert not await asyncio.wait_for(writer.drain(0.2), 5)
    finally:
        ours.close()
        theirs.close()
