"""Logged predictions read back and replayed bit for bit through the real service, including
a record whose model has since been replaced as champion; ``firstpitch audit`` over copies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import numpy as np
import pytest

from features.definitions import FEATURE_NAMES
from firstpitch.runtime import Endpoints
from firstpitch.settings import Settings
from storage import registry
from storage.postgres import connect
from tests.e2e.conftest import RunningService, create_key
from tests.test_cli import run
from training.dataset import REGISTERED_NAMES

GAME = "ATL202107040"


@pytest.fixture
async def client(service: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, timeout=60, headers=service.headers) as c:
        yield c


@pytest.fixture
async def db(ingested: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(ingested)
    yield conn
    await conn.close()


async def served_record(client: httpx.AsyncClient, db: asyncpg.Connection) -> tuple[dict, str]:
    """A prediction served now, and the id of its log record (once it is written)."""
    rid = f"records-{uuid.uuid4().hex[:10]}"
    resp = await client.post(
        "/api/v1/predict", json={"game_id": GAME}, headers={"x-request-id": rid}
    )
    assert resp.status_code == 200, resp.text
    for _ in range(200):
        record_id = await db.fetchval(
            "SELECT record_id FROM prediction_log WHERE request_id = $1", rid
        )
        if record_id is not None:
            return resp.json(), str(record_id)
        await asyncio.sleep(0.05)
    raise AssertionError("the record was not logged")


def booster_probability(name: str, version: str, vector: np.ndarray) -> float:
    """LightGBM's own Booster.predict (not the serving path's C call) on the vector."""
    model = registry.bento_version(name, version)
    assert model is not None
    return float(registry.load_booster(model).predict(vector.reshape(1, -1))[0])


async def test_a_logged_prediction_reads_back_and_replays_identically(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    served, record_id = await served_record(client, db)
    got = await client.get(f"/api/v1/predictions/records/{record_id}")
    assert got.status_code == 200, got.text
    rec = got.json()
    assert rec["record_id"] == record_id and rec["game_id"] == GAME and rec["replayable"]
    assert rec["models"] == served["models"]
    assert rec["home_ml_probability"] == served["home_ml_probability"]
    assert rec["recommendations"] == served["betting_recommendations"]
    raw = base64.b64decode(rec["feature_vector"])
    assert hashlib.sha256(raw).hexdigest() == rec["feature_hash"]
    stored = await db.fetchrow(  # the record refers to its vector, stored once by hash
        "SELECT l.feature_vector IS NULL AS by_hash, v.feature_vector FROM prediction_log l "
        "JOIN feature_vectors v USING (feature_hash) WHERE l.record_id = $1",
        uuid.UUID(record_id),
    )
    assert stored is not None and stored["by_hash"] and stored["feature_vector"] == raw
    vector = np.frombuffer(raw, dtype="<f8")
    assert len(vector) == len(FEATURE_NAMES) and set(rec["features"]) == set(FEATURE_NAMES)
    assert (
        rec["policy"]["min_confidence"]
        == served["betting_recommendations"]["moneyline"]["confidence_required"]
    )
    home = served["models"]["home_win"]
    assert booster_probability(home["model_name"], home["model_version"], vector) == pytest.approx(
        served["home_ml_probability"], abs=1e-12
    )

    replay = await client.post(f"/api/v1/predictions/records/{record_id}/replay")
    assert replay.status_code == 200, replay.text
    body = replay.json()
    assert body["identical"] is True and body["differences"] == []
    assert body["replayed"] == body["logged"]
    assert body["replayed"]["home_ml_probability"] == served["home_ml_probability"]
    assert body["replayed"]["total_over_probability"] == served["total_over_probability"]
    assert body["models"] == served["models"]


@pytest.mark.usefixtures("bento_store_restored")
async def test_a_record_replays_after_its_model_is_replaced_as_champion(
    client: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings, ingested: str
) -> None:
    from training.run import run_training

    served, record_id = await served_record(client, db)
    name = REGISTERED_NAMES["home_win"]
    old = served["models"]["home_win"]["model_version"]
    endpoints = Endpoints(ingested, settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    try:
        newer = await run_training(
            settings, endpoints, "home_win", promote=True,
            grid={"num_leaves": [3], "min_data_in_leaf": [400]}, max_rounds=20,
        )  # fmt: skip
        assert newer["model_version"] != old
        champion = registry.champion_version(settings.mlflow_uri, settings.mlflow_artifacts, name)
        assert champion == newer["model_version"]
        replay = await client.post(f"/api/v1/predictions/records/{record_id}/replay")
        assert replay.status_code == 200, replay.text
        body = replay.json()
        assert body["identical"] is True, body["differences"]
        assert body["models"]["home_win"]["model_version"] == old
    finally:  # the other tests' services load the champion: it is the old one again
        registry.promote(settings.mlflow_uri, settings.mlflow_artifacts, name, old)


async def test_tampered_and_vectorless_records_are_named_and_audited(
    client: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings, ingested: str
) -> None:
    _, record_id = await served_record(client, db)
    # Copies of the record, far in the future (so only this audit sees them), written with
    # triggers off (so no model statistics count them), removed at the end.
    tag = f"tamper-{uuid.uuid4().hex[:8]}"
    copies = {k: str(uuid.uuid4()) for k in ("same", "probability", "vector", "none")}
    await db.execute("SET session_replication_role = replica")
    try:
        for kind, new_id in copies.items():
            await db.execute(
                """INSERT INTO prediction_log SELECT (jsonb_populate_record(p, jsonb_build_object(
                       'record_id', $2::text, 'request_id', $3::text,
                       'predicted_at', '2031-01-01T00:00:00+00:00'))).*
                   FROM prediction_log p WHERE record_id = $1""",
                uuid.UUID(record_id), new_id, f"{tag}-{kind}",
            )  # fmt: skip
        await db.execute(
            "UPDATE prediction_log SET home_ml_probability = home_ml_probability + 1e-12 "
            "WHERE record_id = $1", uuid.UUID(copies["probability"]))  # fmt: skip
        await db.execute(  # one byte of one value flipped: another vector than was hashed,
            # kept in the record itself (a record's own vector is read before the stored one)
            "UPDATE prediction_log l SET feature_vector = set_byte(v.feature_vector, 7, "
            "get_byte(v.feature_vector, 7) # 1) FROM feature_vectors v "
            "WHERE v.feature_hash = l.feature_hash AND l.record_id = $1",
            uuid.UUID(copies["vector"]),
        )
        await db.execute(
            "UPDATE prediction_log SET feature_vector = NULL, policy = NULL WHERE record_id = $1",
            uuid.UUID(copies["none"]),
        )
        same = (await client.post(f"/api/v1/predictions/records/{copies['same']}/replay")).json()
        assert same["identical"] is True
        prob = (
            await client.post(f"/api/v1/predictions/records/{copies['probability']}/replay")
        ).json()
        assert prob["identical"] is False and prob["differences"] == ["home_ml_probability"]
        assert prob["logged"]["home_ml_probability"] != prob["replayed"]["home_ml_probability"]
        vec = (await client.post(f"/api/v1/predictions/records/{copies['vector']}/replay")).json()
        assert vec["identical"] is False and "feature_hash" in vec["differences"]
        none = await client.post(f"/api/v1/predictions/records/{copies['none']}/replay")
        assert none.status_code == 409 and none.json()["error"] == "not_replayable"
        assert (await client.get(f"/api/v1/predictions/records/{copies['none']}")).json()[
            "replayable"
        ] is False

        done = await asyncio.to_thread(
            run, settings, "audit", "--since", "2031-01-01", "--sample", "10", "--json",
            dsn=ingested,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        report = json.loads(done.stdout)
        assert report["records_since"] == 4 and report["replayable_since"] == 3
        assert report["replayed"] == 3 and report["identical"] == 1
        named = {d["record_id"]: d["differences"] for d in report["different"]}
        assert named.keys() == {copies["probability"], copies["vector"]}
        assert named[copies["probability"]] == ["home_ml_probability"]
    finally:
        await db.execute("DELETE FROM prediction_log WHERE request_id LIKE $1", f"{tag}-%")
        await db.execute("SET session_replication_role = origin")


def test_record_errors_are_precise(service: RunningService, ingested: str) -> None:
    with httpx.Client(base_url=service.url, headers=service.headers, timeout=30) as client:
        missing = client.get(f"/api/v1/predictions/records/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.json()["error"] == "unknown_record"
        missing = client.post(f"/api/v1/predictions/records/{uuid.uuid4()}/replay")
        assert missing.status_code == 404 and missing.json()["error"] == "unknown_record"
        bad = client.get("/api/v1/predictions/records/not-a-uuid")
        assert bad.status_code == 422 and bad.json()["error"] == "validation_error"
        assert "not-a-uuid" not in bad.text  # never echoed
    some = uuid.uuid4()
    predictions_only = create_key(ingested, "records-p", ("predictions",))
    models_only = create_key(ingested, "records-m", ("models",))
    with httpx.Client(base_url=service.url, timeout=30) as client:
        auth = {"Authorization": f"Bearer {predictions_only}"}
        assert client.post(f"/api/v1/predictions/records/{some}/replay",
                           headers=auth).status_code == 403  # fmt: skip
        assert client.get(f"/api/v1/predictions/records/{some}", headers=auth).status_code == 404
        auth = {"Authorization": f"Bearer {models_only}"}
        assert client.get(f"/api/v1/predictions/records/{some}", headers=auth).status_code == 403
        assert client.post(f"/api/v1/predictions/records/{some}/replay",
                           headers=auth).status_code == 404  # fmt: skip
    schema = httpx.get(f"{service.url}/openapi.json").json()["paths"]
    assert (
        "`models` scope"
        in schema["/api/v1/predictions/records/{record_id}/replay"]["post"]["description"]
    )
    assert (
        "`predictions` scope"
        in schema["/api/v1/predictions/records/{record_id}"]["get"]["description"]
    )
