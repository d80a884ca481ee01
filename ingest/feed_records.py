"""What the live feed accepts: one validated record type per kind, and a batch check that
names every bad record's index and field.

Every record carries the time it became known (``known_at``, or ``observed_at`` for odds).
A known time later than the caller's clock plus ``max_skew`` is refused: the feed can never
plant a fact that nobody could have known yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from ingest.reference import PARK_TIMEZONES

GameId = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}[0-9]{8}[0-3]$")]
Team = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Park = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}[0-9]{2}$")]
PlayerId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z-]{3}[a-z-][0-9]{3}$")]
Source = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")]
# American odds: +100 and up, -100 and down (a workbook's "-6" is no price).
Price = Annotated[int, Field(ge=-100_000, le=100_000)]
Score = Annotated[int, Field(ge=0, le=99)]
Count = Annotated[int, Field(ge=0, le=999)]
Side = Literal["home", "away"]
GameType = Literal["regular", "wildcard", "division", "lcs", "world_series"]
Status = Literal["scheduled", "postponed", "suspended", "cancelled", "rescheduled"]
Market = Literal["moneyline", "total", "run_line"]
STATS = ("h", "hr", "bb", "k", "e", "er")
# A lax model (numbers in CSV arrive as text) that refuses unknown fields.
LAX = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FeedRecord(BaseModel):
    model_config = LAX
    game_id: GameId

    def known(self) -> tuple[str, datetime]:
        """The field holding the record's known time, and that time."""
        return "known_at", self.known_at  # type: ignore[attr-defined]


class Schedule(FeedRecord):
    home_team: Team
    away_team: Team
    park_id: Park
    scheduled_start: AwareDatetime
    game_type: GameType = "regular"
    game_num: Annotated[int, Field(ge=0, le=3, description="doubleheader order; 0 single")] = 0
    home_league: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    away_league: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    known_at: AwareDatetime

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if self.park_id not in PARK_TIMEZONES:
            raise ValueError("park_id: unknown park (see ingest/reference.py)")
        local = self.scheduled_start.astimezone(ZoneInfo(PARK_TIMEZONES[self.park_id]))
        expected = f"{self.home_team}{local:%Y%m%d}{self.game_num}"
        if self.game_id != expected:
            raise ValueError(
                "game_id: must be the home team, the local date of first pitch (yyyymmdd) "
                "and game_num"
            )
        if self.home_team == self.away_team:
            raise ValueError("away_team: a team cannot play itself")
        return self

    @property
    def park_tz(self) -> str:
        return PARK_TIMEZONES[self.park_id]


class Starter(FeedRecord):
    side: Side
    pitcher_id: PlayerId
    pitcher_name: Annotated[str, StringConstraints(max_length=80)] | None = None
    known_at: AwareDatetime


class Lineup(FeedRecord):
    side: Side
    players: Annotated[list[PlayerId], Field(min_length=9, max_length=9)]
    known_at: AwareDatetime


class OddsSnapshot(FeedRecord):
    market: Market
    source: Source
    observed_at: AwareDatetime
    home_price: Price | None = None
    away_price: Price | None = None
    over_price: Price | None = None
    under_price: Price | None = None
    line: Annotated[float, Field(ge=-30, le=40)] | None = None

    @model_validator(mode="after")
    def _complete(self) -> OddsSnapshot:
        needed = {
            "moneyline": ("home_price", "away_price"),
            "total": ("line", "over_price", "under_price"),
            "run_line": ("line", "home_price", "away_price"),
        }[self.market]
        for name in needed:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required for a {self.market} snapshot")
        for name in ("home_price", "away_price", "over_price", "under_price"):
            price = getattr(self, name)
            if price is not None and -100 < price < 100:
                raise ValueError(f"{name}: American odds are at least +100 or at most -100")
        return self

    def known(self) -> tuple[str, datetime]:
        return "observed_at", self.observed_at


class Result(FeedRecord):
    home_score: Score
    away_score: Score
    known_at: AwareDatetime
    duration_min: Annotated[int, Field(ge=1, le=1500)] | None = None
    length_outs: Annotated[int, Field(ge=0, le=300)] | None = None
    home_h: Count
    home_hr: Count
    home_bb: Count
    home_k: Count
    home_e: Count
    home_er: Count
    away_h: Count
    away_hr: Count
    away_bb: Count
    away_k: Count
    away_e: Count
    away_er: Count

    @model_validator(mode="after")
    def _decided(self) -> Result:
        if self.home_score == self.away_score:
            raise ValueError("home_score: a final score cannot be a tie")
        return self


class StatusChange(FeedRecord):
    status: Status
    scheduled_start: AwareDatetime | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
    known_at: AwareDatetime

    @model_validator(mode="after")
    def _new_time(self) -> StatusChange:
        if (self.status == "rescheduled") != (self.scheduled_start is not None):
            raise ValueError("scheduled_start: required exactly when the status is rescheduled")
        return self


KINDS: dict[str, type[FeedRecord]] = {
    "schedule": Schedule,
    "starters": Starter,
    "lineups": Lineup,
    "odds": OddsSnapshot,
    "results": Result,
    "status": StatusChange,
}
Kind = Literal["schedule", "starters", "lineups", "odds", "results", "status"]
MAX_RECORDS = 100_000  # a file through the command line; HTTP batches are smaller (API_BATCH)
API_BATCH = 100  # records per POST: what fits the request-body limit (64 KiB) comfortably


class FeedError(ValueError):
    """A batch that cannot be taken; ``details`` name each bad record's index and field."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.message, self.details = message, details


def _problem(index: int, field: str, reason: str) -> dict[str, Any]:
    return {"index": index, "field": field, "reason": reason}


def _explain(index: int, exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        reason = str(err["msg"]).removeprefix("Value error, ")
        if not loc and ": " in reason:  # a cross-field rule names its field first
            loc, reason = reason.split(": ", 1)
        if err["type"] == "extra_forbidden":  # the name is the client's input: not echoed
            loc, reason = "", "unexpected field; see the schema at /openapi.json"
        out.append(_problem(index, loc, reason))
    return out


def validate(
    kind: str, raw: list[Any], now: datetime, max_skew: timedelta, max_records: int = MAX_RECORDS
) -> list[FeedRecord]:
    """Every record of a batch, or FeedError naming every bad one (the batch is refused)."""
    if kind not in KINDS:
        raise FeedError(f"unknown feed kind; kinds: {', '.join(KINDS)}", [])
    if not raw:
        raise FeedError("a batch needs at least one record", [])
    if len(raw) > max_records:
        raise FeedError(f"at most {max_records} records per batch", [])
    model, records, problems = KINDS[kind], [], []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(_problem(i, "", "a record is a JSON object"))
            continue
        try:
            record = model.model_validate(item)
        except ValidationError as exc:
            problems.extend(_explain(i, exc))
            continue
        field, known = record.known()
        if known > now + max_skew:
            problems.append(_problem(i, field, "later than the service's clock: not yet knowable"))
            continue
        records.append(record)
    if problems:
        raise FeedError(f"{len(problems)} problem(s) in the batch; nothing was written", problems)
    return records
