"""``POST /api/v1/feed/{kind}``: live facts in (schedules, starters, lineups, odds snapshots,
results, status changes). The same validation and write path as ``firstpitch feed``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from firstpitch.api.deps import POST_ERRORS, RequestId, Runtime
from firstpitch.serving.errors import InvalidFeed
from ingest import feed_store
from ingest.feed_records import API_BATCH, FeedError, Kind, validate

router = APIRouter()

EXAMPLE: dict[str, Any] = {
    "records": [
        {"game_id": "CIN202107040", "market": "moneyline", "source": "book-a",
         "observed_at": "2021-07-04T14:00:00Z", "home_price": -135, "away_price": 115},
    ]
}  # fmt: skip


class FeedBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})
    records: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=API_BATCH,
        description="Records of the path's kind (fields: see README, 'The live feed'); "
        "all are written or, if any is refused, none",
    )


class EventRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="the stream id: the SSE event id of GET /api/v1/stream")
    type: str
    game_id: str


class FeedAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    received: int
    inserted: int
    updated: int = Field(description="records that replaced an earlier one with other values")
    unchanged: int = Field(description="records already held exactly (sent twice)")
    corrected_games: list[str] = Field(description="games whose result was corrected")
    repricing: Literal["done", "nothing", "failed"] = Field(
        description="what the committed changes set off: done (events below), nothing (no "
        "change, or a kind that sets off none) or failed (the write stands; see README)"
    )
    events: list[EventRef] = Field(description="the events published, in stream order")


@router.post(
    "/api/v1/feed/{kind}",
    response_model=FeedAnswer,
    responses=POST_ERRORS,
    tags=["feed"],
)
async def feed(
    kind: Annotated[Kind, Path(examples=["odds"])], body: FeedBatch, rt: Runtime, rid: RequestId
) -> dict[str, Any]:
    """Writes the batch (one transaction), then re-prices what changed and publishes the
    events (``GET /api/v1/stream``) before answering."""
    skew = timedelta(seconds=rt.settings.feed_max_skew_s)
    try:
        records = validate(kind, body.records, rt.clock.now(), skew, API_BATCH)
    except FeedError as exc:
        raise InvalidFeed(exc.message, exc.details) from None
    async with rt.repricer.in_order(await rt.repricer.ordered_with(kind, records)):
        try:
            async with rt.db.connection() as conn:
                outcome = await feed_store.write(conn, kind, records)
        except FeedError as exc:
            raise InvalidFeed(exc.message, exc.details) from None
        done = await rt.repricer.after_feed(kind, outcome.changed, rid)
    return outcome.to_dict() | {"repricing": done.status, "events": done.events}
