"""Timelines: what each team, starting pitcher, park and the league looked like after every
finished game, at the time its result became known.

Every statistic is a trailing or season-to-date sum of integers over rows ordered by
(known_at, game_id), and Elo is a fold in that order, so the row of a fact depends only on
earlier facts. ``extend`` uses that: after new results it recomputes only the rows they can
change (the keys they touch; for the league and Elo, the rows from the earliest new one on),
and the outcome is bit for bit the timeline ``build`` computes from scratch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import polars as pl

from features import elo
from features import ratings as player_ratings

PARK_WINDOW = 243  # ~3 seasons of home games
LEAGUE_WINDOW = 2430  # ~1 season of games
ORDER = ["known_at", "game_id"]


def done_frame(games: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """Finished games: games joined to their results, in (known_at, game_id) order."""
    return games.join(results, on="game_id", how="inner").sort(ORDER)


def team_timeline(done: pl.DataFrame) -> pl.DataFrame:
    """Two rows per finished game (one per team) with trailing and season-to-date stats."""
    sides = []
    for side, other in (("home", "away"), ("away", "home")):
        sides.append(
            done.select(
                pl.col("game_id"),
                pl.col("known_at"),
                pl.col("season"),
                pl.col("game_date"),
                pl.col(f"{side}_team").alias("team"),
                pl.lit(side == "home").alias("is_home"),
                pl.col(f"{side}_score").cast(pl.Int64).alias("rf"),
                pl.col(f"{other}_score").cast(pl.Int64).alias("ra"),
                *(
                    pl.col(f"{side}_{s}").fill_null(0).cast(pl.Int64).alias(s)
                    for s in ("h", "hr", "bb", "k", "e")
                ),
            )
        )
    t = pl.concat(sides).sort(["team", "known_at", "game_id"])
    t = t.with_columns(
        (pl.col("rf") > pl.col("ra")).cast(pl.Int64).alias("win"),
        (pl.col("rf") - pl.col("ra")).alias("rd"),
        pl.lit(1, pl.Int64).alias("one"),
    )

    def trailing(col: str, n: int) -> pl.Expr:
        return pl.col(col).rolling_sum(n, min_samples=1).over("team")

    def season_cum(expr: pl.Expr) -> pl.Expr:
        return expr.cum_sum().over(["team", "season"])

    home_games = pl.col("is_home").cast(pl.Int64)
    road_games = (~pl.col("is_home")).cast(pl.Int64)
    return t.with_columns(
        (trailing("win", 10) / trailing("one", 10)).alias("form_win_10"),
        (trailing("win", 30) / trailing("one", 30)).alias("form_win_30"),
        (trailing("rd", 10) / trailing("one", 10)).alias("form_rd_10"),
        (trailing("rd", 30) / trailing("one", 30)).alias("form_rd_30"),
        (trailing("rf", 10) / trailing("one", 10)).alias("form_rf_10"),
        (trailing("ra", 10) / trailing("one", 10)).alias("form_ra_10"),
        *(
            (trailing(s, 30) / trailing("one", 30)).alias(f"{name}_pg_30")
            for s, name in (("h", "hits"), ("hr", "hr"), ("bb", "bb"), ("k", "so"), ("e", "errors"))
        ),
        season_cum(pl.col("one")).alias("std_games"),
        season_cum(pl.col("win")).alias("std_wins"),
        season_cum(pl.col("rf")).alias("std_rf"),
        season_cum(pl.col("ra")).alias("std_ra"),
        season_cum(pl.col("win") * home_games).alias("std_home_wins"),
        season_cum(home_games).alias("std_home_games"),
        season_cum(pl.col("win") * road_games).alias("std_road_wins"),
        season_cum(road_games).alias("std_road_games"),
    )


def pitcher_timeline(done: pl.DataFrame) -> pl.DataFrame:
    """One row per start: how his team fared, trailing over his last 5 starts."""
    starts = pl.concat(
        done.select(
            pl.col(f"{side}_sp_id").alias("pitcher"),
            "game_id",
            "known_at",
            "season",
            "game_date",
            pl.col(f"{other}_score").cast(pl.Int64).alias("ra"),
            pl.col(f"{side}_er").fill_null(pl.col(f"{other}_score")).cast(pl.Int64).alias("er"),
            (pl.col(f"{side}_score") > pl.col(f"{other}_score")).cast(pl.Int64).alias("win"),
        )
        for side, other in (("home", "away"), ("away", "home"))
    ).filter(pl.col("pitcher").is_not_null())
    starts = starts.sort(["pitcher", "known_at", "game_id"]).with_columns(
        pl.lit(1, pl.Int64).alias("one")
    )

    def last5(col: str) -> pl.Expr:
        return pl.col(col).rolling_sum(5, min_samples=1).over("pitcher")

    return starts.with_columns(
        (last5("ra") / last5("one")).alias("sp_ra_5"),
        (last5("er") / last5("one")).alias("sp_er_5"),
        (last5("win") / last5("one")).alias("sp_win_5"),
        pl.col("one").cum_sum().over(["pitcher", "season"]).alias("sp_starts"),
    )


def _runs(done: pl.DataFrame) -> pl.DataFrame:
    return done.select(
        "park_id",
        "known_at",
        "game_id",
        (pl.col("home_score") + pl.col("away_score")).cast(pl.Int64).alias("runs"),
        pl.lit(1, pl.Int64).alias("one"),
    )


def park_timeline(done: pl.DataFrame) -> pl.DataFrame:
    """Runs per game at each park, trailing over its last PARK_WINDOW games."""
    return (
        _runs(done)
        .sort(["park_id", "known_at", "game_id"])
        .with_columns(
            (
                pl.col("runs").rolling_sum(PARK_WINDOW, min_samples=1).over("park_id")
                / pl.col("one").rolling_sum(PARK_WINDOW, min_samples=1).over("park_id")
            ).alias("park_runs_pg")
        )
        .select("park_id", "known_at", "park_runs_pg")
    )


def league_timeline(done: pl.DataFrame) -> pl.DataFrame:
    """League-wide runs per game, trailing; one row per finished game in ``done``'s order."""
    return (
        _runs(done)
        .with_columns(
            (
                pl.col("runs").rolling_sum(LEAGUE_WINDOW, min_samples=1)
                / pl.col("one").rolling_sum(LEAGUE_WINDOW, min_samples=1)
            ).alias("league_runs_pg")
        )
        .select("known_at", "league_runs_pg")
    )


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

    @classmethod
    def build(cls, done: pl.DataFrame) -> Timelines:
        """From scratch: ``done`` holds every finished game, in (known_at, game_id) order."""
        state = player_ratings.RatingState()
        return cls(
            teams=team_timeline(done),
            pitchers=pitcher_timeline(done),
            parks=park_timeline(done),
            league=league_timeline(done),
            ratings=elo.rating_timeline(done),
            players=player_ratings.fold(player_ratings.rated(done), state),
            rating_state=state,
        )

    def _players(
        self, done: pl.DataFrame, first: int
    ) -> tuple[player_ratings.Timelines, player_ratings.RatingState]:
        """The player ratings once ``done`` holds new results from index ``first`` on: folded
        on from the held state when they all come after the held ones, else from scratch."""
        state = player_ratings.RatingState()
        if first < self.rating_state_games:
            return player_ratings.fold(player_ratings.rated(done), state), state
        state = copy.deepcopy(self.rating_state)
        added = player_ratings.fold(player_ratings.rated(done.slice(first)), state)
        joined = player_ratings.Timelines(
            *(pl.concat([a, b]) for a, b in zip(self.players, added, strict=True))
        )
        return joined, state

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
        first = done.with_row_index("_i").join(new.select("game_id"), on="game_id")["_i"].min()
        assert isinstance(first, int)
        start = max(0, first - (LEAGUE_WINDOW - 1))
        league = league_timeline(done.slice(start))
        players, rating_state = self._players(done, first)
        return Timelines(
            teams=_rekey(self.teams, team_timeline(involved), "team", teams),
            pitchers=_rekey(self.pitchers, pitcher_timeline(pitched), "pitcher", pitchers),
            parks=_rekey(self.parks, park_timeline(at_parks), "park_id", parks),
            league=pl.concat([self.league.slice(0, first), league.slice(first - start)]),
            ratings=elo.extend(self.ratings, done, first),
            players=players,
            rating_state=rating_state,
        )

    def restrict(self, base: pl.DataFrame) -> Timelines:
        """Only the rows an as-of join for ``base``'s targets can match: their teams,
        starters and parks, and the league rows from the last one before the earliest
        horizon on. The joins on the result equal those on the whole timelines."""
        teams = pl.concat([base["home_team"], base["away_team"]]).unique().implode()
        sps = pl.concat([base["home_sp_id"], base["away_sp_id"]]).drop_nulls().unique().implode()
        parks = base["park_id"].unique().implode()
        lo, hi = base["horizon"].min(), base["horizon"].max()
        before = self.league.filter(pl.col("known_at") <= lo).height
        upto = self.league.filter(pl.col("known_at") <= hi).height
        start = max(0, before - 1)
        batters = (
            pl.concat([base["home_lineup"].explode(), base["away_lineup"].explode()])
            .drop_nulls()
            .unique()
            .implode()
        )
        p = self.players
        teams_, pitchers_, parks_, ratings_, batters_, starters_, defence_, grounds_ = (
            pl.collect_all(
                [
                    self.teams.lazy().filter(pl.col("team").is_in(teams)),
                    self.pitchers.lazy().filter(pl.col("pitcher").is_in(sps)),
                    self.parks.lazy().filter(pl.col("park_id").is_in(parks)),
                    self.ratings.lazy().filter(pl.col("team").is_in(teams)),
                    p.batters.lazy().filter(pl.col("player").is_in(batters)),
                    p.pitchers.lazy().filter(pl.col("player").is_in(sps)),
                    p.teams.lazy().filter(pl.col("team").is_in(teams)),
                    p.parks.lazy().filter(pl.col("park_id").is_in(parks)),
                ]
            )
        )
        return Timelines(
            teams=teams_,
            pitchers=pitchers_,
            parks=parks_,
            league=self.league.slice(start, upto - start),
            ratings=ratings_,
            players=player_ratings.Timelines(batters_, starters_, defence_, grounds_),
            rating_state=self.rating_state,
        )


def _rekey(old: pl.DataFrame, fresh: pl.DataFrame, key: str, keys: set[str]) -> pl.DataFrame:
    """``old`` with every row of ``keys`` replaced by ``fresh``'s (recomputed) rows."""
    if not keys:
        return old
    chosen = pl.col(key).is_in(sorted(keys))
    return pl.concat([old.filter(~chosen), fresh.filter(chosen)])
