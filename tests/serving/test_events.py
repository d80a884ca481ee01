"""The hub's fan-out (our own logic; a fake stream never read) and the event filter."""

from __future__ import annotations

from typing import Any

from firstpitch.serving.events import End, Event, Filter, Hub


def event(n: int, type_: str = "odds", game: str = "CIN202107040", edge: float | None = 0.05,
          day: str = "2021-07-04") -> Event:  # fmt: skip
    return Event(f"100-{n}", type_, game, day, edge, "{}")


def test_a_slow_subscriber_is_dropped_with_an_end_and_the_others_get_everything() -> None:
    hub = Hub(stream=Any, queue_size=3)  # type: ignore[arg-type]
    slow, fast = hub.subscribe(lambda e: True), hub.subscribe(lambda e: True)
    got = []
    for n in range(5):
        hub.deliver(event(n))
        got.append(fast.queue.get_nowait())
    assert [e.id for e in got] == [f"100-{n}" for n in range(5)]  # type: ignore[union-attr]
    assert slow.closed and slow.queue.qsize() == 1
    assert slow.queue.get_nowait() == End("slow_consumer")
    hub.deliver(event(9))  # a dropped subscriber gets nothing more
    assert slow.queue.empty()


def test_shutdown_ends_every_subscriber() -> None:
    hub = Hub(stream=Any, queue_size=10)  # type: ignore[arg-type]
    subs = [hub.subscribe(lambda e: True) for _ in range(3)]
    hub.deliver(event(1))
    hub.close()
    assert hub.draining
    for sub in subs:
        assert sub.queue.get_nowait() == End("shutdown") and sub.queue.empty()


def test_filters() -> None:
    assert Filter()(event(1))
    assert not Filter(game_ids=frozenset({"SEA202107040"}))(event(1))
    assert not Filter(date="2021-07-05")(event(1))
    assert not Filter(types=frozenset({"prediction"}))(event(1))
    assert Filter(min_edge=0.05)(event(1)) and not Filter(min_edge=0.06)(event(1))
    assert not Filter(min_edge=0.0)(event(1, edge=None))  # no price, no edge
    assert Filter(min_edge=0.9)(event(1, "status", edge=None))  # edges bind bets only
