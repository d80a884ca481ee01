"""The timelines as numpy columns, for the as-of lookups of a few targets (features/lookup.py).

Through Polars, one game's vector is ~120 small queries, each with its own fixed overhead;
on numpy columns an as-of lookup is one ``np.searchsorted`` over the known times of a key's
rows, and the row it finds holds the very values the Polars join would take.

Two layouts. The team, starter and park timelines are recomputed key by key as results
arrive (``Timelines.extend`` moves a key's rows to the end), so they are held per key and a
fold replaces only the keys its results touch. The Elo and player-rating timelines only grow
at their end and already keep their rows' positions by key (``features/row_index.py``), so
they are held as whole columns beside that index (growing in shared buffers,
``features/growing.py``: a fold converts only its new rows); the league is one column in
time order. Every timeline is ordered by (known_at, game_id) within a key, so the last row with
``known_at <= horizon`` is the one the backward as-of join takes, ties included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from features.growing import Columns, Growing
from features.row_index import RowIndex
from features.timelines import Timelines

TEAM_COLUMNS = (
    "known_at", "season", "game_date", "form_win_10", "form_win_30", "form_rd_10", "form_rd_30",
    "form_rf_10", "form_ra_10", "hits_pg_30", "hr_pg_30", "bb_pg_30", "so_pg_30",
    "errors_pg_30", "std_games", "std_wins", "std_rf", "std_ra", "std_home_wins",
    "std_home_games", "std_road_wins", "std_road_games",
)  # fmt: skip
PITCHER_COLUMNS = ("known_at", "season", "game_date", "sp_ra_5", "sp_er_5", "sp_win_5", "sp_starts")
PARK_COLUMNS = ("known_at", "park_runs_pg")
LEAGUE_COLUMNS = ("known_at", "league_runs_pg")
ELO_COLUMNS = ("known_at", "r_season", "rating")
BATTER_COLUMNS = ("known_at", "r_season", "rating")
RATED_TEAM_COLUMNS = ("known_at", "r_season", "def_rating", "usual_off", "league_rpg", "home_adv")
RATED_PARK_COLUMNS = ("known_at", "park_mult")


def _columns(frame: pl.DataFrame, names: Iterable[str]) -> Columns:
    """Numeric numpy columns; times as epoch microseconds, dates as epoch days. The
    timelines hold no nulls (sums, counts and ratings), which a lookup relies on."""
    physical = frame.select(pl.col(n).to_physical() for n in names)  # one query
    if any(physical.null_count().row(0)):
        raise ValueError(f"a timeline column of {', '.join(names)} holds nulls")
    return {c.name: c.to_numpy() for c in physical.iter_columns()}


def last_at(known: np.ndarray, horizon: int) -> int:
    """Position of the last time ``<= horizon`` in ascending ``known``; -1 if none."""
    return int(known.searchsorted(horizon, side="right")) - 1


def per_key(frame: pl.DataFrame, key: str, names: tuple[str, ...]) -> dict[str, Columns]:
    """Each key's rows of ``frame`` as columns, in frame order."""
    if frame.is_empty():
        return {}
    ordered = frame.select(key, *names).sort(key, maintain_order=True)
    keys = ordered.get_column(key)
    starts = np.flatnonzero(keys.ne_missing(keys.shift(1)).fill_null(True).to_numpy())
    ends = np.append(starts[1:], keys.len())
    cols = _columns(ordered, names)
    return {
        k: {n: c[s:e] for n, c in cols.items()}
        for k, s, e in zip(keys.gather(starts).to_list(), starts, ends, strict=True)
    }


@dataclass(frozen=True)
class Indexed:
    """A timeline that grows at its end: whole columns and each key's row positions."""

    grown: Growing
    index: RowIndex

    @classmethod
    def of(
        cls, frame: pl.DataFrame, index: RowIndex, names: tuple[str, ...],
        held: Indexed | None = None, since: int | None = None,
    ) -> Indexed:  # fmt: skip
        if frame.height != index.height:
            raise ValueError(f"an index of {index.height} rows for a frame of {frame.height}")
        return cls(grow(frame, names, held.grown if held else None, since), index)

    @property
    def cols(self) -> Columns:
        return self.grown.cols

    def find(self, key: str | None, horizon: int) -> int:
        """The row of ``key`` the as-of join takes at ``horizon``; -1 if none. The whole
        timeline is in time order, so that is the key's last row before the first row known
        after ``horizon``: two binary searches, no gathering of the key's times."""
        at = self.index.rows.get(key) if key is not None else None
        if at is None:
            return -1
        end = self.grown.cols["known_at"].searchsorted(horizon, side="right")
        j = int(at.searchsorted(end)) - 1
        return int(at[j]) if j >= 0 else -1


def _ordered(known: np.ndarray) -> None:
    if known.size > 1 and bool((known[1:] < known[:-1]).any()):
        raise ValueError("a timeline that grows at its end is out of time order")


def grow(
    frame: pl.DataFrame, names: tuple[str, ...], held: Growing | None, since: int | None
) -> Growing:
    """Columns of a timeline that grows at its end. With the columns ``held`` for it before
    results known from ``since`` on were folded in, the rows known before ``since`` are
    kept from there: every fold emits the rows of the games before its earliest new result
    again, bit for bit (Elo and the league keep them, the player ratings fold them again
    from a checkpoint), so only the rows after them are converted."""
    old = held.cols["known_at"] if held is not None else None
    kept = 0 if old is None or since is None else int(old.searchsorted(since))
    if held is None or old is None or not kept or frame.height < kept or (
        frame.get_column("known_at").to_physical()[kept - 1] != old[kept - 1]
    ):  # fmt: skip
        cols = _columns(frame, names)
        _ordered(cols["known_at"])
        return Growing.of(cols)
    tail = _columns(frame.slice(kept), names)
    _ordered(np.concatenate([old[kept - 1 : kept], tail["known_at"]]))
    same = held.n - kept  # rows known at ``since`` held already: unchanged if the new sort after
    if same and all(
        held.cols[n][kept:].tobytes() == tail[n][:same].tobytes() for n in names
    ):  # fmt: skip
        kept, tail = held.n, {n: c[same:] for n, c in tail.items()}
    return held.grown(kept, tail)


def find_keyed(rows: dict[str, Columns], key: str | None, horizon: int) -> tuple[Columns, int]:
    """A per-key timeline's columns of ``key`` and the row the as-of join takes (-1: none)."""
    cols = rows.get(key) if key is not None else None
    if cols is None:
        return {}, -1
    return cols, last_at(cols["known_at"], horizon)


def _replaced(
    held: dict[str, Columns], frame: pl.DataFrame, key: str, keys: set[str], names: tuple[str, ...]
) -> dict[str, Columns]:
    """``held`` with the rows of ``keys`` taken again from ``frame``, where ``_rekey``
    (features/timelines.py) put them: at its end, after every other key's rows."""
    if not keys:
        return held
    others = sum(len(c["known_at"]) for k, c in held.items() if k not in keys)
    fresh = frame.slice(others)
    if others > frame.height or not set(fresh.get_column(key).unique()) <= keys:
        fresh = frame.filter(pl.col(key).is_in(sorted(keys)))
    out = dict(held)
    out.update(per_key(fresh, key, names))
    return out


@dataclass(frozen=True)
class TimelineArrays:
    """Every timeline of a ``Timelines`` value as numpy columns. Immutable, like it."""

    teams: dict[str, Columns]
    pitchers: dict[str, Columns]
    parks: dict[str, Columns]
    league: Growing
    elo: Indexed
    batters: Indexed
    rated_pitchers: Indexed
    rated_teams: Indexed
    rated_parks: Indexed

    @classmethod
    def build(cls, t: Timelines) -> TimelineArrays:
        return cls._with(
            t,
            per_key(t.teams, "team", TEAM_COLUMNS),
            per_key(t.pitchers, "pitcher", PITCHER_COLUMNS),
            per_key(t.parks, "park_id", PARK_COLUMNS),
        )

    def extend(self, t: Timelines, new: pl.DataFrame) -> TimelineArrays:
        """The arrays of ``t``, the timelines after the results ``new``: only the keys
        those results touch are taken again from the per-key timelines, only the rows from
        the earliest of them on from the others."""
        teams = set(new["home_team"]) | set(new["away_team"])
        pitchers = {p for p in (*new["home_sp_id"], *new["away_sp_id"]) if p is not None}
        since = new.get_column("known_at").to_physical().min()
        assert isinstance(since, int)
        return self._with(
            t,
            _replaced(self.teams, t.teams, "team", teams, TEAM_COLUMNS),
            _replaced(self.pitchers, t.pitchers, "pitcher", pitchers, PITCHER_COLUMNS),
            _replaced(self.parks, t.parks, "park_id", set(new["park_id"]), PARK_COLUMNS),
            self,
            since,
        )

    @classmethod
    def _with(
        cls,
        t: Timelines,
        teams: dict[str, Columns],
        pitchers: dict[str, Columns],
        parks: dict[str, Columns],
        held: TimelineArrays | None = None,
        since: int | None = None,
    ) -> TimelineArrays:
        if t.index is None:
            raise ValueError("arrays are built from whole timelines, not a restricted view")
        p, at = t.players, t.index

        def grown(frame: pl.DataFrame, index: RowIndex, name: str, cols: tuple[str, ...]
                  ) -> Indexed:  # fmt: skip
            return Indexed.of(frame, index, cols, getattr(held, name, None), since)

        return cls(
            teams=teams,
            pitchers=pitchers,
            parks=parks,
            league=grow(t.league, LEAGUE_COLUMNS, held.league if held else None, since),
            elo=grown(t.ratings, at.ratings, "elo", ELO_COLUMNS),
            batters=grown(p.batters, at.batters, "batters", BATTER_COLUMNS),
            rated_pitchers=grown(p.pitchers, at.starters, "rated_pitchers", BATTER_COLUMNS),
            rated_teams=grown(p.teams, at.defence, "rated_teams", RATED_TEAM_COLUMNS),
            rated_parks=grown(p.parks, at.grounds, "rated_parks", RATED_PARK_COLUMNS),
        )
