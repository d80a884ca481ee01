"""Records handed to the writer process as frames (``firstpitch/serving/relayed_log.py``)
come out of the writer as the same records, their fresh ids aside, and as the same COPY lines;
whatever cannot go that way (no writer, a full socket, a record of another shape) is logged
in the worker, none twice and none lost. The writer side is the real one
(``log_lines.records`` and ``frame_lines``); the relay is a fake that keeps what it is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from firstpitch.serving import betting, shadow, shaping
from firstpitch.serving.log_lines import frame_lines, records
from firstpitch.serving.relayed_log import RelayedLog, frames
from storage.log_vectors import Vectors
from storage.prediction_log import LogFull, PredictionLogger
from tests.serving.test_log_writer import BASE, entry

CHAMPIONS = {
    "home_win": {"name": "firstpitch-home-win", "version": "3", "feature_version": "fs1"},
    "total_over": {"name": "firstpitch-total-over", "version": "2", "feature_version": "fs1"},
}
ANNOUNCED = {
    "home_win": [{"name": "firstpitch-home-win", "version": "4", "feature_version": "fs1"}],
    "total_over": [{"name": "firstpitch-total-over", "version": "5", "feature_version": "fs1"}],
}
POLICY = betting.BettingPolicy(min_edge=0.0)


class Relay:
    """Keeps the frames it is sent; ``room`` frames, then the socket is full."""

    def __init__(self, room: int = 1000) -> None:
        self.room, self.alive = room, True
        self.sent: list[tuple[Any, ...]] = []

    def send(self, base: dict[str, Any], latency_ms: float, games: Any, hits: Any) -> bool:
        if len(self.sent) >= self.room:
            return False
        self.sent.append((base, latency_ms, list(games), list(hits)))
        return True


def shadow_records(n: int, request: str = "q1") -> list[dict[str, Any]]:
    """Each challenger's shadow records of ``n`` served games, as the shadow queue makes them."""
    base = BASE | {"request_id": request}
    out = []
    for i in range(n):
        answer = entry(i)
        served = shaping.record(base, answer, False, 2.5)
        scored = [(c, np.array([0.3 + i / 100, 0.7])) for c in
                  shadow.challengers_of(ANNOUNCED, CHAMPIONS, "fs1")]  # fmt: skip
        out += shadow.records(served, answer, scored, POLICY)
    return out


def _without_id(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "record_id"} for r in rs]


def _logger(tmp_path: Path) -> PredictionLogger:
    return PredictionLogger(None, tmp_path / "spill")  # type: ignore[arg-type]


def test_the_writer_rebuilds_the_same_records_and_lines() -> None:
    made = shadow_records(3) + shadow_records(2, request="q2")
    found = frames(made)
    assert found is not None
    assert len(found) == 4  # a frame per request and challenger (its model set)
    rebuilt = [r for frame, _ in found for r in records(frame)]
    held = [r for _, rs in found for r in rs]
    assert sorted(map(id, held)) == sorted(map(id, made))  # each record in one frame
    assert _without_id(rebuilt) == _without_id(held)
    for frame, rs in found:  # and the writer's fast lines equal the worker's own encoding
        lines, own = frame_lines(frame, Vectors()), Vectors().encode(rs)
        assert [x.split(b"\t", 1)[1] for x in lines] == [x.split(b"\t", 1)[1] for x in own]


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},  # a key more
        {"home_ml_confidence": 0.1},  # a confidence the writer would not work out
        {"cache_hit": 1},  # not a bool
    ],
)
def test_a_record_of_another_shape_is_not_framed(change: dict[str, Any]) -> None:
    made = shadow_records(2)
    made[1] = made[1] | change
    assert frames(made) is None
    made = shadow_records(2)
    del made[0]["latency_ms"]
    assert frames(made) is None


def test_records_go_to_the_writer_or_stay_here_never_both(tmp_path: Path) -> None:
    logger, relay = _logger(tmp_path), Relay(room=1)
    log = RelayedLog(relay, logger)  # type: ignore[arg-type]
    made = shadow_records(2)  # two frames: one fits, the other stays here
    log.log_many(made)
    assert len(relay.sent) == 1 and log.relayed == 2 and log.kept == 2
    assert logger.depth == 2
    sent_games = {g[0] for g in relay.sent[0][2]}
    assert len(sent_games) == 2
    odd = shadow_records(1)
    odd[0]["extra"] = 1
    log.log_many(odd)  # another shape: here
    relay.alive = False
    log.log_many(shadow_records(1))  # no writer: here
    assert (log.relayed, log.kept, logger.depth) == (2, 6, 6)  # two challengers a game
    log.log_many([])
    assert (log.relayed, log.kept) == (2, 6)


def test_without_a_relay_every_record_is_logged_here(tmp_path: Path) -> None:
    logger = _logger(tmp_path)
    log = RelayedLog(None, logger)
    log.log_many(shadow_records(3))
    assert (log.relayed, log.kept, logger.depth) == (0, 6, 6)


def test_a_full_spill_refuses_before_anything_is_sent(tmp_path: Path) -> None:
    logger, relay = _logger(tmp_path), Relay()
    logger.max_spill_bytes = 0
    with pytest.raises(LogFull):
        RelayedLog(relay, logger).log_many(shadow_records(1))  # type: ignore[arg-type]
    assert relay.sent == []
