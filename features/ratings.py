"""Player ratings from game-level runs, updated game by game in the order results became known.

Each half of a game is one observation: the runs a side scored, expected as

    league runs per team-game × park factor ± half the home advantage
    + mean rating of its nine batters + the opposing starter's rating + the opposing team's
      (bullpen and fielding) rating

Batters' ratings are offence (runs per game a lineup of nine of him adds over average);
starters' and teams' are runs allowed over average (lower is better). The update is a Kalman
filter with a diagonal covariance: every rating carries a variance, the innovation is shared
out by variance (a newcomer, with the prior's variance, learns fast; a veteran slowly), each
game adds a little drift, and between seasons a rating moves a share of the way back to its
prior and regains variance. League scoring, home advantage and park factors follow as
exponential moving averages. ``RatingState.update`` is a function of the previous state and
one result only, so the state can be carried forward one result at a time; folding all of
history through it is exactly what ``rating_timelines`` does.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import polars as pl

OBS_VAR = 9.0  # runs² of one side's score around its expectation
BAT_PRIOR = (-0.05, 0.6)  # newcomer batter: mean, variance (runs per game)
SP_PRIOR = (0.15, 0.5)  # newcomer starter: a little worse than average
TEAM_PRIOR = (0.0, 0.2)
# Share of the prior variance added per game played. A batter's game tells a ninth as much
# about him as a start tells about a pitcher: his drift is smaller, so that a regular's
# variance settles well below a newcomer's (about a third of it) instead of above.
DRIFT, BAT_DRIFT = 1 / 800, 1 / 10000
REVERT = 0.3  # share of the way back to the prior between seasons
SEASON_VAR = 0.25  # share of the prior variance regained between seasons
LEAGUE_START, LEAGUE_ALPHA = 4.5, 1 / 1500
HFA_START, HFA_ALPHA = 0.15, 1 / 3000
PARK_ALPHA = 1 / 250
USUAL_ALPHA = 1 / 15  # the team's usual lineup: moving average of its lineups' strength

UTC_US = pl.Datetime("us", "UTC")
RATING_SCHEMA: dict[str, pl.DataType] = {
    "player": pl.String(),
    "known_at": UTC_US,
    "r_season": pl.Int64(),
    "rating": pl.Float64(),
}
TEAM_SCHEMA: dict[str, pl.DataType] = {
    "team": pl.String(),
    "known_at": UTC_US,
    "r_season": pl.Int64(),
    "def_rating": pl.Float64(),
    "usual_off": pl.Float64(),
    "league_rpg": pl.Float64(),
    "home_adv": pl.Float64(),
}
PARK_SCHEMA: dict[str, pl.DataType] = {
    "park_id": pl.String(),
    "known_at": UTC_US,
    "park_mult": pl.Float64(),
}


def carried(mean: float, last_season: int, season: int, prior_mean: float) -> float:
    """A rating as it stands in ``season``: moved back toward its prior if a season passed."""
    if last_season == season:
        return mean
    return prior_mean + (mean - prior_mean) * (1 - REVERT)


class Timelines(NamedTuple):
    batters: pl.DataFrame
    pitchers: pl.DataFrame
    teams: pl.DataFrame
    parks: pl.DataFrame


@dataclass
class RatingState:
    """Every rating after some prefix of the results (mean, variance, season of last game)."""

    bat: dict[str, list[Any]] = field(default_factory=dict)
    sp: dict[str, list[Any]] = field(default_factory=dict)
    team: dict[str, list[Any]] = field(default_factory=dict)
    usual: dict[str, float] = field(default_factory=dict)
    park: dict[str, float] = field(default_factory=dict)
    league: float = LEAGUE_START
    home_adv: float = HFA_START
    # Entries (by id) this state may change in place: those it created or copied. A fork
    # shares every entry with its parent and copies one before its first change, so a
    # parent that is never changed again (a held state, a checkpoint) stays as it was.
    _own: set[int] = field(default_factory=set, repr=False, compare=False)

    def fork(self) -> RatingState:
        """A state equal to this one that can be folded on without changing it: O(keys)
        for the dictionaries, not a deep copy of every entry."""
        return RatingState(dict(self.bat), dict(self.sp), dict(self.team), dict(self.usual),
                           dict(self.park), self.league, self.home_adv)  # fmt: skip

    def _current(self, store: dict[str, list[Any]], key: str, season: int,
                 prior: tuple[float, float]) -> list[Any]:  # fmt: skip
        """The entry for ``key`` brought into ``season`` (created at the prior if new), one
        this state may change."""
        entry = store.get(key)
        if entry is None:
            entry = [prior[0], prior[1], season]
            store[key] = entry
            self._own.add(id(entry))
            return entry
        if id(entry) not in self._own:
            entry = store[key] = entry.copy()
            self._own.add(id(entry))
        if entry[2] != season:
            entry[0] = carried(entry[0], entry[2], season, prior[0])
            entry[1] = min(entry[1] + SEASON_VAR * prior[1], prior[1])
            entry[2] = season
        return entry

    def _half(self, lineup: list[str], pitcher: str | None, defence: str, season: int,
              expected_base: float, runs: int) -> float:  # fmt: skip
        """Update one side's batters, the opposing starter and team; return lineup strength."""
        bats = [self._current(self.bat, p, season, BAT_PRIOR) for p in lineup]
        n = len(bats) or 1
        sp = self._current(self.sp, pitcher, season, SP_PRIOR) if pitcher else None
        team = self._current(self.team, defence, season, TEAM_PRIOR)
        offence = float(sum(b[0] for b in bats)) / n
        expected = expected_base + offence + team[0] + (sp[0] if sp else 0.0)
        spread = OBS_VAR + team[1] + sum(b[1] for b in bats) / (n * n) + (sp[1] if sp else 0.0)
        error = runs - expected
        for b in bats:
            gain = b[1] / n / spread
            b[0] += gain * error
            b[1] = b[1] - gain * b[1] / n + BAT_DRIFT * BAT_PRIOR[1]
        for entry, prior in ((sp, SP_PRIOR), (team, TEAM_PRIOR)):
            if entry is not None:
                gain = entry[1] / spread
                entry[0] += gain * error
                entry[1] = entry[1] - gain * entry[1] + DRIFT * prior[1]
        return offence

    def update(self, game: tuple[Any, ...]) -> None:
        """Fold in one finished game: (season, park, home team, away team, home lineup,
        away lineup, home starter, away starter, home score, away score)."""
        season, park, home, away, h_lineup, a_lineup, h_sp, a_sp, h_runs, a_runs = game
        park_mult = self.park.get(park, 1.0)
        base = self.league * park_mult
        h_off = self._half(h_lineup, a_sp, away, season, base + self.home_adv / 2, h_runs)
        a_off = self._half(a_lineup, h_sp, home, season, base - self.home_adv / 2, a_runs)
        for team, off in ((home, h_off), (away, a_off)):
            before = self.usual.get(team, off)
            self.usual[team] = before + (off - before) * USUAL_ALPHA
        total = h_runs + a_runs
        self.park[park] = park_mult + (total / (2 * self.league) - park_mult) * PARK_ALPHA
        self.league += (total / 2 - self.league) * LEAGUE_ALPHA
        self.home_adv += ((h_runs - a_runs) - self.home_adv) * HFA_ALPHA


RATED = (
    "known_at",
    "season",
    "park_id",
    "home_team",
    "away_team",
    "home_lineup",
    "away_lineup",
    "home_sp_id",
    "away_sp_id",
    "home_score",
    "away_score",
    "game_id",
)


def rated(done: pl.DataFrame) -> pl.DataFrame:
    """What the fold reads of finished games (games joined to results), in their order."""
    return done.select(
        *RATED[:9], pl.col("home_score").cast(pl.Int64), pl.col("away_score").cast(pl.Int64),
        "game_id",
    )  # fmt: skip


def finished_games(games: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """Finished games in the order their results became known (known_at, then game id)."""
    return rated(games.join(results, on="game_id", how="inner")).sort(["known_at", "game_id"])


def _frame(done: pl.DataFrame, index: list[int], key: str, cols: dict[str, list[Any]],
           schema: dict[str, pl.DataType]) -> pl.DataFrame:  # fmt: skip
    """Rows of values emitted after game ``index[i]``, stamped with its known_at and season."""
    at = pl.Series("g", index, dtype=pl.Int64())
    out = {
        key: pl.Series(key, cols.pop(key), dtype=pl.String()),
        "known_at": done["known_at"].gather(at),
        "r_season": done["season"].gather(at).cast(pl.Int64()),
    }
    out |= {name: pl.Series(name, v, dtype=pl.Float64()) for name, v in cols.items()}
    return pl.DataFrame(out).select(list(schema))


def rating_timelines(
    games: pl.DataFrame, results: pl.DataFrame, state: RatingState | None = None
) -> tuple[Timelines, RatingState]:
    """Fold finished games into ``state`` (a fresh one by default): one row per batter,
    starter, team and park per game with the rating after it, at the result's known_at."""
    state = state or RatingState()
    return fold(finished_games(games, results), state), state


def fold(done: pl.DataFrame, state: RatingState) -> Timelines:
    """Fold ``done`` (``rated`` finished games, in order) into ``state``, which it changes;
    the timelines' rows of these games."""
    return fold_capturing(done, state, ())[0]


Heights = tuple[int, int, int, int]  # rows of the batter, pitcher, team and park timelines


class Capture(NamedTuple):
    games: int  # the state before the game at this position of ``done``
    state: RatingState  # never changed afterwards
    heights: Heights  # rows the fold had emitted by then


def fold_capturing(
    done: pl.DataFrame, state: RatingState, at: Collection[int]
) -> tuple[Timelines, RatingState, list[Capture]]:
    """``fold``, also keeping the state as it stood before each game at a position in
    ``at`` (the fold goes on in a fork from there). Returns the timelines, the final state
    (``state`` itself when ``at`` is empty) and the captures."""
    captures: list[Capture] = []
    b_at: list[int] = []
    b_key: list[str] = []
    b_val: list[float] = []
    p_at: list[int] = []
    p_key: list[str] = []
    p_val: list[float] = []
    t_key: list[str] = []
    t_cols: tuple[list[float], ...] = ([], [], [], [])
    park_vals: list[float] = []
    bat, sp, team, usual = state.bat, state.sp, state.team, state.usual
    for i, row in enumerate(done.iter_rows()):
        if i in at:
            heights = (len(b_key), len(p_key), len(t_key), len(park_vals))
            captures.append(Capture(i, state, heights))
            state = state.fork()
            bat, sp, team, usual = state.bat, state.sp, state.team, state.usual
        state.update(row[1:11])
        _, _, _, home, away, h_lineup, a_lineup, h_sp, a_sp = row[:9]
        lineup = h_lineup + a_lineup
        b_at.extend([i] * len(lineup))
        b_key.extend(lineup)
        b_val.extend([bat[p][0] for p in lineup])
        for player in (h_sp, a_sp):
            if player:
                p_at.append(i)
                p_key.append(player)
                p_val.append(sp[player][0])
        t_key += (home, away)
        t_cols[0].extend((team[home][0], team[away][0]))
        t_cols[1].extend((usual[home], usual[away]))
        t_cols[2].extend((state.league, state.league))
        t_cols[3].extend((state.home_adv, state.home_adv))
        park_vals.append(state.park[row[2]])
    timelines = Timelines(
        batters=_frame(done, b_at, "player", {"player": b_key, "rating": b_val}, RATING_SCHEMA),
        pitchers=_frame(done, p_at, "player", {"player": p_key, "rating": p_val}, RATING_SCHEMA),
        teams=_frame(
            done,
            [i for i in range(done.height) for _ in (0, 1)],
            "team",
            {"team": t_key, **dict(zip(list(TEAM_SCHEMA)[3:], t_cols, strict=True))},
            TEAM_SCHEMA,
        ),
        parks=_frame(
            done,
            list(range(done.height)),
            "park_id",
            {"park_id": done["park_id"].to_list(), "park_mult": park_vals},
            PARK_SCHEMA,
        ),
    )
    return timelines, state, captures
