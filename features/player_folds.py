"""The player ratings carried on as results arrive, in the order they became known or not.

The ratings are one fold over finished games in (known_at, game_id) order
(``features/ratings.py``). A result that sorts after every held one is folded on from the
held state. One that sorts before some of them — a late result, or any result while the
history holds one known later (a suspended game completed months after, as in a database
cut for a season replay) — changes every rating after its position, so the fold is taken up
again from the last *checkpoint* before it: a state kept as it stood after the first N games.

Checkpoints cost little: a state's fork shares its entries and copies one only before it
changes it. Kept: the current state, the one right after the newest results (where the next
result, if the history holds later ones, will go), and one ``LAG`` games before the end,
at most ``KEPT`` in all. Only a result sorting before all of them is folded from scratch.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from features import ratings as player_ratings
from features.ratings import Heights, RatingState

LAG = 64  # a checkpoint this many games before the end: late results fold on from it
KEPT = 8


class Checkpoint(NamedTuple):
    games: int  # the state after the first ``games`` finished games
    state: RatingState  # never changed: folds go on from a fork of it
    heights: Heights  # rows of each player timeline at that point


class Folded(NamedTuple):
    players: player_ratings.Timelines
    state: RatingState  # after every game
    checkpoints: tuple[Checkpoint, ...]  # by games; the last is (every game, state)
    cut: Heights  # the held timelines' rows kept (the fold's rows follow); zeros: rebuilt


def _heights(players: player_ratings.Timelines) -> Heights:
    b, p, t, g = (frame.height for frame in players)
    return b, p, t, g


def _wanted(games: int, start: int, marks: set[int]) -> set[int]:
    """The positions (relative to ``start``) to capture during a fold of ``games`` games."""
    return {m - start for m in marks if start < m < games}


def _keep(
    held: list[Checkpoint], captured: list[Checkpoint], last: Checkpoint
) -> tuple[Checkpoint, ...]:
    chosen = sorted({c.games: c for c in (*held, *captured)}.values(), key=lambda c: c.games)
    return (*chosen[-(KEPT - 1) :], last)


def build(done: pl.DataFrame) -> Folded:
    """From scratch: ``done`` holds every finished game, in order."""
    n = done.height
    at = _wanted(n, 0, {n - LAG})
    players, state, caps = player_ratings.fold_capturing(
        player_ratings.rated(done), RatingState(), at
    )
    last = Checkpoint(n, state, _heights(players))
    return Folded(players, state, _keep([], [Checkpoint(*c) for c in caps], last), (0, 0, 0, 0))


def extend(
    players: player_ratings.Timelines,
    checkpoints: tuple[Checkpoint, ...],
    done: pl.DataFrame,
    first: int,
    end: int,
) -> Folded:
    """The ratings once ``done`` (in order) holds new results at positions ``first`` to
    ``end`` - 1 (and possibly held ones after them), folded on from the last checkpoint at
    or before ``first``; from scratch if there is none."""
    base = next((c for c in reversed(checkpoints) if c.games <= first), None)
    if base is None:
        return build(done)
    n = done.height
    at = _wanted(n, base.games, {end, n - LAG})
    added, state, caps = player_ratings.fold_capturing(
        player_ratings.rated(done.slice(base.games)), base.state.fork(), at
    )
    joined = player_ratings.Timelines(
        *(
            pl.concat([held.slice(0, h), new])
            for held, h, new in zip(players, base.heights, added, strict=True)
        )
    )
    captured = [
        Checkpoint(
            base.games + c.games,
            c.state,
            (
                base.heights[0] + c.heights[0],
                base.heights[1] + c.heights[1],
                base.heights[2] + c.heights[2],
                base.heights[3] + c.heights[3],
            ),
        )
        for c in caps
    ]
    held = [c for c in checkpoints if c.games <= first]
    last = Checkpoint(n, state, _heights(joined))
    return Folded(joined, state, _keep(held, captured, last), base.heights)
