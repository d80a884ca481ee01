"""Timelines: what each team, starting pitcher, park and the league looked like after every
finished game, at the time its result became known.

Every statistic is a trailing or season-to-date sum of integers over rows ordered by
(known_at, game_id), and Elo is a fold in that order, so the row of a fact depends only on
earlier facts. ``extend`` uses that: after new results it recomputes only the rows they can
change (the keys they touch; for the league and Elo, the rows from the earliest new one on),
and the outcome is bit for bit the timeline ``build`` computes from scratch. The per-key
frames themselves are computed in ``features/timeline_frames.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import polars as pl

from features import elo, player_folds
from features import ratings as player_ratings
from features.row_index import RowIndex
from features.timeline_frames import (
    LEAGUE_WINDOW,
    ORDER,
    done_frame,
    league_timeline,
    park_timeline,
    pitcher_timeline,
    team_timeline,
)

# done_frame and ORDER are imported from here by the feature state and the pipeline
__all__ = ["ORDER", "Index", "Timelines", "done_frame"]


class Index(NamedTuple):
    """Row positions by key of the timelines that grow at their end (features/row_index.py)."""

    batters: RowIndex
    starters: RowIndex
    defence: RowIndex
    grounds: RowIndex
    ratings: RowIndex

    @classmethod
    def build(cls, players: player_ratings.Timelines, ratings: pl.DataFrame) -> Index:
        return cls(*_player_index(players), RowIndex.build(ratings["team"]))


PLAYER_KEYS = ("player", "player", "team", "park_id")  # of player_ratings.Timelines' frames
PlayerIndex = tuple[RowIndex, RowIndex, RowIndex, RowIndex]


def _player_index(p: player_ratings.Timelines) -> PlayerIndex:
    b, s, d, g = (RowIndex.build(frame[key]) for frame, key in zip(p, PLAYER_KEYS, strict=True))
    return b, s, d, g


@dataclass(frozen=True)
class Timelines:
    """Every timeline the features join as of a target's horizon. Immutable: an update
    returns a new value, so a reader holding one never sees it change."""

    teams: pl.DataFrame  # by team, in (known_at, game_id) order within a team
    pitchers: pl.DataFrame  # by pitcher
    parks: pl.DataFrame  # by park_id
    league: pl.DataFrame  # one row per finished game, (known_at, game_id) order
    ratings: pl.DataFrame  # Elo: two rows per finished game, (known_at, game_id) order
    players: player_ratings.Timelines  # player ratings (features/ratings.py), by player/team/park
    rating_state: player_ratings.RatingState  # after the last finished game; never changed in place
    index: Index | None = None  # None on the view ``restrict`` returns
    checkpoints: tuple[player_folds.Checkpoint, ...] = ()  # earlier rating states (player_folds)

    @classmethod
    def build(cls, done: pl.DataFrame) -> Timelines:
        """From scratch: ``done`` holds every finished game, in (known_at, game_id) order."""
        folded = player_folds.build(done)
        ratings = elo.rating_timeline(done)
        return cls(
            teams=team_timeline(done),
            pitchers=pitcher_timeline(done),
            parks=park_timeline(done),
            league=league_timeline(done),
            ratings=ratings,
            players=folded.players,
            rating_state=folded.state,
            index=Index.build(folded.players, ratings),
            checkpoints=folded.checkpoints,
        )

    def _players(
        self, done: pl.DataFrame, first: int, end: int
    ) -> tuple[player_folds.Folded, PlayerIndex]:
        """The player ratings (and their index) once ``done`` holds new results at positions
        ``first`` to ``end`` - 1: folded on from the last checkpoint before them."""
        if self.index is None:
            folded = player_folds.build(done)
            return folded, _player_index(folded.players)
        folded = player_folds.extend(self.players, self.checkpoints, done, first, end)
        b, s, d, g = (
            at.splice(cut, frame[key].slice(cut))
            for at, cut, frame, key in zip(
                self.index[:4], folded.cut, folded.players, PLAYER_KEYS, strict=True
            )
        )
        return folded, (b, s, d, g)

    @property
    def rating_state_games(self) -> int:
        """How many finished games the player ratings have folded (one park row each)."""
        return self.players.parks.height

    def extend(self, done: pl.DataFrame, new: pl.DataFrame) -> Timelines:
        """The timelines after ``new`` results, which ``done`` (in order) now includes."""
        teams = set(new["home_team"]) | set(new["away_team"])
        pitchers = {p for p in (*new["home_sp_id"], *new["away_sp_id"]) if p is not None}
        parks = set(new["park_id"])
        involved = done.filter(pl.col("home_team").is_in(teams) | pl.col("away_team").is_in(teams))
        pitched = done.filter(
            pl.col("home_sp_id").is_in(pitchers) | pl.col("away_sp_id").is_in(pitchers)
        )
        at_parks = done.filter(pl.col("park_id").is_in(parks))
        at = done.with_row_index("_i").join(new.select("game_id"), on="game_id")["_i"]
        first, last = at.min(), at.max()
        assert isinstance(first, int) and isinstance(last, int)
        start = max(0, first - (LEAGUE_WINDOW - 1))
        league = league_timeline(done.slice(start))
        folded, player_index = self._players(done, first, last + 1)
        ratings = elo.extend(self.ratings, done, first)
        ratings_index = (
            self.index.ratings.splice(2 * first, ratings["team"].slice(2 * first))
            if self.index is not None
            else RowIndex.build(ratings["team"])
        )
        return Timelines(
            teams=_rekey(self.teams, team_timeline(involved), "team", teams),
            pitchers=_rekey(self.pitchers, pitcher_timeline(pitched), "pitcher", pitchers),
            parks=_rekey(self.parks, park_timeline(at_parks), "park_id", parks),
            league=pl.concat([self.league.slice(0, first), league.slice(first - start)]),
            ratings=ratings,
            players=folded.players,
            rating_state=folded.state,
            index=Index(*player_index, ratings_index),
            checkpoints=folded.checkpoints,
        )

    def restrict(self, base: pl.DataFrame) -> Timelines:
        """Only the rows an as-of join for ``base``'s targets can match: their teams,
        starters and parks, and the league rows from the last one before the earliest
        horizon on. The joins on the result equal those on the whole timelines."""
        if base.is_empty():
            return self
        teams = pl.concat([base["home_team"], base["away_team"]]).unique()
        sps = pl.concat([base["home_sp_id"], base["away_sp_id"]]).drop_nulls().unique()
        parks = base["park_id"].unique()
        known, horizons = self.league["known_at"], base["horizon"].sort()
        before, upto = known.search_sorted(horizons.gather([0, -1]), side="right").to_list()
        start = max(0, before - 1)
        batters = pl.concat([base["home_lineup"].explode(), base["away_lineup"].explode()])
        teams_, pitchers_, parks_ = pl.collect_all(
            [
                self.teams.lazy().filter(pl.col("team").is_in(teams.implode())),
                self.pitchers.lazy().filter(pl.col("pitcher").is_in(sps.implode())),
                self.parks.lazy().filter(pl.col("park_id").is_in(parks.implode())),
            ]
        )
        index = self.index or Index.build(self.players, self.ratings)
        p, wanted = self.players, (batters, sps, teams, parks)
        players = player_ratings.Timelines(
            *(
                at.take(frame, keys.to_list())
                for at, frame, keys in zip(index[:4], p, wanted, strict=True)
            )
        )
        return Timelines(
            teams=teams_,
            pitchers=pitchers_,
            parks=parks_,
            league=self.league.slice(start, upto - start),
            ratings=index.ratings.take(self.ratings, teams.to_list()),
            players=players,
            rating_state=self.rating_state,
        )


def _rekey(old: pl.DataFrame, fresh: pl.DataFrame, key: str, keys: set[str]) -> pl.DataFrame:
    """``old`` with every row of ``keys`` replaced by ``fresh``'s (recomputed) rows."""
    if not keys:
        return old
    chosen = pl.col(key).is_in(sorted(keys))
    return pl.concat([old.filter(~chosen), fresh.filter(chosen)])
