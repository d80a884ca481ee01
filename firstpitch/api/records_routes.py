"""Logged prediction records: read one back, and replay it with the versions it names."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path

from features.definitions import FEATURE_NAMES, FEATURE_VERSION
from firstpitch.api.deps import ERRORS, POST_ERRORS, Runtime
from firstpitch.api.record_schemas import LoggedRecord, Replay
from firstpitch.serving.errors import UnknownRecord
from firstpitch.serving.reproduce import VERSION_OF
from firstpitch.serving.runtime import ApiRuntime
from storage import record_queries
from training.dataset import REGISTERED_NAMES

router = APIRouter()
EXAMPLE_RECORD = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
RecordId = Annotated[
    uuid.UUID,
    Path(description="The record's id (a UUID, as the log shows it)", examples=[EXAMPLE_RECORD]),
]


async def _record(rt: ApiRuntime, record_id: uuid.UUID) -> dict[str, Any]:
    async with rt.db.connection() as conn:
        record = await record_queries.by_id(conn, record_id)
    if record is None:
        raise UnknownRecord(f"no prediction record {record_id}")
    return record


def _shaped(record: dict[str, Any]) -> dict[str, Any]:
    raw = record["feature_vector"]
    features = None
    if raw is not None and record["feature_version"] == FEATURE_VERSION:
        values = np.frombuffer(bytes(raw), dtype="<f8")
        if len(values) == len(FEATURE_NAMES):
            features = {
                n: None if np.isnan(v) else float(v)
                for n, v in zip(FEATURE_NAMES, values, strict=True)
            }
    return {
        k: v
        for k, v in record.items()
        if k not in {"home_model_version", "total_model_version", "feature_vector"}
    } | {
        "models": {
            t: {"model_name": REGISTERED_NAMES[t], "model_version": record[c]}
            for t, c in VERSION_OF.items()
        },
        "feature_as_of": record["feature_as_of"].isoformat(),
        "feature_cutoff": record["feature_cutoff"].isoformat(),
        "predicted_at": record["predicted_at"].isoformat(),
        "feature_vector": None if raw is None else base64.b64encode(bytes(raw)).decode(),
        "features": features,
        "replayable": raw is not None and record["policy"] is not None,
    }


@router.get(
    "/api/v1/predictions/records/{record_id}",
    response_model=LoggedRecord,
    responses=ERRORS,
    tags=["predictions"],
)
async def logged_record(record_id: RecordId, rt: Runtime) -> dict[str, Any]:
    """A logged prediction as it was recorded: what was served, the vector it was computed
    from, the model versions, the odds and the betting policy used."""
    return _shaped(await _record(rt, record_id))


@router.post(
    "/api/v1/predictions/records/{record_id}/replay",
    response_model=Replay,
    responses=POST_ERRORS,
    tags=["models"],
)
async def replay_record(record_id: RecordId, rt: Runtime) -> dict[str, Any]:
    """Recompute a logged prediction with the model versions and betting policy it was made
    with (whichever version is the champion now) and compare it with what was logged."""
    return await rt.replays.replay(await _record(rt, record_id))
