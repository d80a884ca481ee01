"""The incremental feature state: every timeline, kept current as results arrive.

A fold over results in known-time order. ``FeatureState.build`` folds the whole history once
(the cost of one full recomputation); ``apply`` folds in what changed since, recomputing
only the rows the new results can change (``Timelines.extend``), and gives the bytes a
build from scratch would. A result that differs from the one held (a correction) cannot be
folded in: ``apply`` says so and the caller builds afresh. Lookups join a target's horizon
against just the rows its teams, starters, park and the league can match
(``Timelines.restrict``), through the same ``features_at`` as training.

New timelines plug in through ``Timelines`` (``features/timelines.py``): a ``build`` from the
finished games and an ``extend`` that recomputes the rows new results change, a ``restrict``
to the rows a target can match, and an as-of join in ``features_at``, as Elo does.

The state also holds every timeline as numpy columns (``features/arrays.py``), kept current
by the same folds, for ``lookup``: the vectors of a few targets without Polars
(``features/lookup.py``), the bytes ``vectors`` gives. A new timeline needs its columns
there and its lookup beside the others.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from features import lookup
from features.arrays import TimelineArrays
from features.facts import Target
from features.online import frame_to_vectors
from features.pipeline import features_at, prepare
from features.timelines import ORDER, Timelines, done_frame
from features.vectors import FeatureVector


@dataclass(frozen=True)
class FeatureState:
    """Immutable: ``apply`` returns a new state, so a lookup never sees one change."""

    done: pl.DataFrame  # finished games (games joined to results), (known_at, game_id) order
    timelines: Timelines
    mark: int  # the database's change mark this state has seen up to (features/source.py)
    arrays: TimelineArrays  # the timelines as numpy columns, for ``lookup``

    @classmethod
    def build(cls, games: pl.DataFrame, results: pl.DataFrame, mark: int) -> FeatureState:
        done = done_frame(games, results)
        timelines = Timelines.build(done)
        return cls(done, timelines, mark, TimelineArrays.build(timelines))

    @property
    def results(self) -> int:
        return self.done.height

    def apply(self, games: pl.DataFrame, results: pl.DataFrame, mark: int) -> FeatureState | None:
        """The state with results written since ``self.mark`` folded in; results seen before
        are skipped. None when a result differs from the one held (a correction)."""
        delta = done_frame(games, results).select(self.done.columns)
        ids = delta["game_id"].implode()
        held = self.done.filter(pl.col("game_id").is_in(ids)).sort("game_id")
        again = delta.filter(pl.col("game_id").is_in(held["game_id"].implode())).sort("game_id")
        if not held.equals(again):
            return None
        new = delta.filter(~pl.col("game_id").is_in(held["game_id"].implode()))
        if new.is_empty():
            return replace(self, mark=mark)
        done = pl.concat([self.done, new]).sort(ORDER)
        timelines = self.timelines.extend(done, new)
        return FeatureState(done, timelines, mark, self.arrays.extend(timelines, new))

    def vectors(
        self, targets: pl.DataFrame, announced: pl.DataFrame, snapshots: pl.DataFrame
    ) -> dict[str, FeatureVector]:
        """Vectors of ``targets`` (with cutoff and horizon) from the held timelines and the
        targets' own announcements and odds snapshots."""
        base = prepare(targets, announced)
        frame = features_at(self.timelines.restrict(base), snapshots, base)
        return frame_to_vectors(frame, targets)

    def lookup(self, targets: list[Target]) -> dict[str, FeatureVector]:
        """``vectors`` for a few targets read by ``features.facts.load_facts``, without
        Polars: the same bytes in well under a millisecond a game."""
        return lookup.vectors(self.arrays, targets)
