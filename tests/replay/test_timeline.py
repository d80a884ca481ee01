"""A replay's timeline from the real files: every game of the days once, every fact at a
time that respects what could be known then, every record one the feed accepts."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

from ingest.feed_records import validate
from ingest.files import locate_files
from ingest.retrosheet import parse_game_log
from replay.timeline import build, steps

FIRST, LAST = date(2021, 6, 1), date(2021, 6, 3)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_game_of_the_days_once_in_the_order_facts_became_known(data_dir: Path) -> None:
    events = build(data_dir, FIRST, LAST)
    logs, _ = locate_files(data_dir, {2021})
    played = {
        str(p.game["game_id"])
        for path in logs
        for p in parse_game_log(path, {2021})
        if FIRST <= p.game["game_date"] <= LAST  # type: ignore[operator]
    }
    kinds = Counter(e.kind for e in events)
    assert kinds["schedule"] == kinds["results"] == kinds["cutoff"] == len(played) == 37
    assert {e.game_id for e in events} == played
    assert kinds["starters"] == kinds["lineups"] == 2 * len(played)
    assert kinds["odds"] >= 4 * len(played) - 4  # opening and closing, two markets
    assert [(e.at, e.rank, e.game_id) for e in events] == sorted(
        (e.at, e.rank, e.game_id) for e in events
    )
    per_game: dict[str, dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    starts: dict[str, datetime] = {}
    for e in events:
        per_game[e.game_id][e.kind].append(e.at)
        if e.kind == "schedule":
            starts[e.game_id] = _t(e.record["scheduled_start"])
    for game_id, seen in per_game.items():
        start, cutoff = starts[game_id], starts[game_id] - timedelta(minutes=60)
        (announced,) = seen["schedule"]
        (result,) = seen["results"]
        assert seen["cutoff"] == [cutoff]
        assert announced < min(seen["starters"]) <= max(seen["lineups"]) < cutoff
        assert start < result
        opening = [t for t in seen["odds"] if t < start]
        assert all(t <= cutoff for t in opening) and all(t <= start for t in seen["odds"])


def test_each_moment_is_a_batch_the_feed_accepts_at_that_moment(data_dir: Path) -> None:
    batches = steps(build(data_dir, FIRST, LAST))
    assert len({(at, kind) for at, kind, _ in batches}) == len(batches)
    for at, kind, records in batches:
        if kind == "cutoff":  # a request for predictions, not a feed record
            continue
        # No skew allowed: every record is knowable at the moment it is sent.
        assert len(validate(kind, records, at, timedelta(0))) == len(records)
