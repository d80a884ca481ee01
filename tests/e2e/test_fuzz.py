"""Schema-driven fuzzing of every operation of /openapi.json through real HTTP (schemathesis).

A bounded run for CI: the examples, coverage and fuzzing phases, schema-valid and invalid
inputs, every built-in check (no 5xx, documented statuses, bodies and headers conform, invalid
input refused, valid input accepted, auth not ignored, 405 with Allow, ...) plus the project's
check that no body leaks a traceback, a source path or the API key. Hooks count every call,
status and check, and a second test asserts the run was not vacuous. The same settings, check
and counters drive the long run, loadtests/fuzz_api.py (``make fuzz``).

``FIRSTPITCH_FUZZ_MAX_EXAMPLES`` (default 300) and ``FIRSTPITCH_FUZZ_SEED`` (default pinned,
so CI is reproducible) tune it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import _pytest.nodes
import httpx
import pytest
import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

from firstpitch.settings import PROJECT_ROOT, Settings
from storage.embedded import EmbeddedPostgres
from tests.conftest import TEST_ROOT, ingest_all
from tests.e2e.conftest import UNHURRIED, RunningService, start_service

# pytest 9.2 keeps a node's id in ``Node._id`` and dropped the ``_nodeid`` attribute, which
# schemathesis 4.32.5's ``pytest.from_fixture`` still reads and rewrites (to name each
# operation's subtest): without this it fails with AttributeError. Drop once schemathesis
# catches up.
if not hasattr(_pytest.nodes.Node, "_nodeid"):
    from _pytest.nodeid import coerce_node_id

    def _get_nodeid(node: _pytest.nodes.Node) -> str:
        return str(node._id)

    def _set_nodeid(node: _pytest.nodes.Node, value: str) -> None:
        node._id = coerce_node_id(value)

    _pytest.nodes.Node._nodeid = property(_get_nodeid, _set_nodeid)  # type: ignore[attr-defined]


def _load_harness() -> ModuleType:
    path = PROJECT_ROOT / "loadtests" / "fuzz_api.py"
    spec = importlib.util.spec_from_file_location("fuzz_api", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fuzz_api = _load_harness()  # registers the leak check with schemathesis
# 300: some 3,100 requests in 35-55 s here (2 cores), every operation answering 2xx. The
# session's admin key allows 10**8 requests a minute, and a 429 fails the run (not expected).
MAX_EXAMPLES = int(os.environ.get("FIRSTPITCH_FUZZ_MAX_EXAMPLES", "300"))
SEED = int(os.environ.get("FIRSTPITCH_FUZZ_SEED", "20210704"))
TALLY = fuzz_api.Tally()
RAN: list[str] = []  # the schema's operations, once the fuzz run has started

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


async def example_record(service: RunningService, dsn: str) -> None:
    """A real logged prediction under the schema's example record id, so the record
    operations can answer 2xx to the fuzzer too."""
    from firstpitch.api.records_routes import EXAMPLE_RECORD
    from storage.postgres import connect

    rid = f"fuzz-example-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers) as client:
        resp = await client.post("/api/v1/predict", json={"game_id": "CIN202107040"},
                                 headers={"x-request-id": rid}, timeout=60)  # fmt: skip
        assert resp.status_code == 200, resp.text
    conn = await connect(dsn)
    try:
        for _ in range(200):
            if await conn.fetchval("SELECT 1 FROM prediction_log WHERE request_id = $1", rid):
                break
            await asyncio.sleep(0.05)
        await conn.execute(
            """INSERT INTO prediction_log SELECT (jsonb_populate_record(p,
                   jsonb_build_object('record_id', $2::text))).*
               FROM prediction_log p WHERE request_id = $1""", rid, EXAMPLE_RECORD)  # fmt: skip
    finally:
        await conn.close()


async def example_run(settings: Settings, dsn: str, report_dir: Path) -> None:
    """A real backtest run (one day) under the schema's example run id, so the statistics
    operations can answer 2xx for ``run=`` too."""
    from datetime import date

    from firstpitch.api.run_stats import EXAMPLE_RUN
    from firstpitch.backtest.run import Request, run_backtest

    day = date(2021, 7, 4)
    request = Request(season=2021, model_name="firstpitch-home-win", date_from=day,
                      date_to=day, report_dir=report_dir, run_id=EXAMPLE_RUN)  # fmt: skip
    await run_backtest(settings, dsn, request)


@pytest.fixture(scope="module")
def fuzz_service(
    settings: Settings,
    champions: dict[str, object],
    data_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningService]:
    """The fuzzer writes (the feed takes any valid record it invents): it gets a Postgres
    and a service of its own, so nothing it writes reaches another test."""
    server = EmbeddedPostgres(TEST_ROOT / "own" / f"fuzz-{uuid.uuid4().hex[:8]}", durable=False)
    try:
        dsn = server.start()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, ingest_all(dsn, data_dir)).result()
        # Streams end after 0.2 s whatever a call asks (the harness bounds them too). The
        # clock is drivable, so that its operation can answer 2xx; the harness drives it only
        # to the pinned instant, and its Redis database is the fuzz service's own.
        redis_url = settings.redis_url.get_secret_value().rsplit("/", 1)[0] + "/6"  # type: ignore[union-attr]
        svc = start_service(settings, dsn, tmp_path_factory.mktemp("fuzz"),
                            FIRSTPITCH_INFERENCE="service", FIRSTPITCH_STREAM_MAX_SECONDS="0.2",
                            FIRSTPITCH_STREAM_KEY=f"fp:fuzz-events:{uuid.uuid4().hex[:8]}",
                            FIRSTPITCH_CLOCK_DRIVABLE="true", FIRSTPITCH_REDIS_URL=redis_url,
                            **UNHURRIED)  # fmt: skip
        try:
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, example_record(svc, dsn)).result()
                report = tmp_path_factory.mktemp("fuzz-backtest") / "report"
                pool.submit(asyncio.run, example_run(settings, dsn, report)).result()
            from firstpitch.api.run_stats import EXAMPLE_RUN

            board = httpx.get(f"{svc.url}/api/v1/models/leaderboard", params={"run": EXAMPLE_RUN},
                              headers=svc.headers, timeout=60)  # fmt: skip
            assert board.status_code == 200 and board.json()["leaderboard"], board.text
            yield svc
        finally:
            svc.stop()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_service: RunningService) -> Iterator[Any]:
    service = fuzz_service
    token = service.headers["Authorization"].removeprefix("Bearer ")
    settings = fuzz_api.config(service.url, token, MAX_EXAMPLES, SEED)
    schema = schemathesis.openapi.from_url(
        f"{service.url}/openapi.json", config=schemathesis.Config.from_dict(settings)
    )
    fuzz_api.install(schema.hooks, TALLY)
    fuzz_api.SECRETS.append(token)
    raw = httpx.get(f"{service.url}/openapi.json", timeout=30).json()
    RAN[:] = [f"{m.upper()} {path}" for path, ops in raw["paths"].items() for m in ops]
    yield schema
    fuzz_api.SECRETS.remove(token)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_holds_its_contract(case: Any) -> None:
    # No `checks=`: every built-in check enabled in the config runs, and every registered
    # custom one (no_internals_leaked).
    case.call_and_validate()


def test_the_fuzz_run_was_thorough() -> None:
    """A broken key (all 401), a dead server or a schema without operations must not pass."""
    if not RAN:
        pytest.skip("the fuzz run was not selected")
    run = TALLY.as_dict()
    statuses = run["statuses"]
    not_counted = dict(fuzz_api.NOT_COUNTED)
    print(f"fuzz run: {run['requests']} requests, {statuses=}, {not_counted=}")  # -rP shows it
    assert run["requests"] >= 1000, run
    assert not [s for s in statuses if s.startswith("5")], statuses
    assert sorted(run["operations"]) == sorted(RAN), run["operations"]
    for operation, seen in run["operations"].items():
        assert any(s.startswith("2") for s in seen), (operation, seen)
    assert statuses.get("422", 0) >= 50, statuses  # invalid input reached validation
    assert run["checks_run"].get("no_internals_leaked", 0) == run["requests"]
    for check in ("not_a_server_error", "status_code_conformance", "response_schema_conformance",
                  "content_type_conformance", "negative_data_rejection",
                  "positive_data_acceptance", "ignored_auth", "unsupported_method"):  # fmt: skip
        assert run["checks_run"].get(check, 0) > 0, (check, run["checks_run"])
    assert not run["checks_failed"], run["checks_failed"]


LEAKS = [
    b'Traceback (most recent call last):\n  File "x", line 1',
    b'{"message": "see /work/main/service.py"}',
    b'{"message": "/tmp/firstpitch-test-1/spill"}',
    b'{"message": "in .venv/lib/python3.11/site-packages/starlette"}',
    b'{"message": "fpk_0123456789ab_secret"}',
]


@pytest.mark.parametrize("body", LEAKS)
def test_the_leak_check_catches_internals(body: bytes) -> None:
    with pytest.raises(AssertionError, match="leaks internals"):
        fuzz_api.no_internals_leaked(None, SimpleNamespace(content=body), None)


def test_the_leak_check_knows_the_key_and_passes_clean_errors() -> None:
    clean = b'{"error":"unknown_game","message":"no game XXX202107040","request_id":"ab12"}'
    assert fuzz_api.no_internals_leaked(None, SimpleNamespace(content=clean), None) is None
    fuzz_api.SECRETS.append("s3cret-key")
    try:
        with pytest.raises(AssertionError, match="API key"):
            fuzz_api.no_internals_leaked(None, SimpleNamespace(content=b"s3cret-key"), None)
    finally:
        fuzz_api.SECRETS.remove("s3cret-key")


def _response(status: int, content: bytes, url: str = "http://t/x") -> Any:
    return SimpleNamespace(status_code=status, content=content, request=SimpleNamespace(url=url))


@pytest.mark.parametrize(
    ("status", "error", "kept"),
    [
        (422, "invalid_query", False),
        (422, "invalid_feed", False),
        (422, "validation_error", True),
        (500, "invalid_query", True),
        (500, "invalid_feed", True),
    ],
)
def test_only_cross_parameter_conflicts_are_accepted(status: int, error: str, kept: bool) -> None:
    failure = RejectedPositiveData(operation="GET /x", message="m", status_code=status,
                                   allowed_statuses=fuzz_api.POSITIVE_STATUSES)  # fmt: skip
    response = _response(status, json.dumps({"error": error}).encode())
    assert fuzz_api.keep_failure(None, failure, None, response) is kept


def test_what_the_fuzzer_found_stays_fixed(service: RunningService) -> None:
    game = "CIN202107040"
    with httpx.Client(base_url=service.url, headers=service.headers, timeout=60) as client:
        batch = client.get("/api/v1/predict/batch")  # not GET /predict/{game_id="batch"}
        assert (batch.status_code, batch.headers.get("allow")) == (405, "POST"), batch.text
        for body in ({"game_id": f" {game}"}, {"game_id": game, "include_explanation": "true"},
                     {"game_id": game, "include_explanation": 1}):  # fmt: skip
            resp = client.post("/api/v1/predict", json=body)
            assert resp.status_code == 422, (body, resp.text)
        extra = client.post("/api/v1/predict", json={"game_id": game, "<b>/work/x": 1})
        assert extra.status_code == 422 and "<b>" not in extra.text and "/work" not in extra.text
        assert extra.json()["details"] == [
            {"location": "body", "reason": "unexpected field; see the schema at /openapi.json"}
        ]
        # BentoML's router never passes a path with a newline to our app: its plain-text 404
        # is rewritten at the edge (firstpitch/api/edges.py) into our JSON error.
        for path in ("/api/v1/models/a%0Ab", "/nowhere"):
            lost = client.get(path)
            assert lost.status_code == 404 and lost.json()["error"] == "http_error", lost.text
        for rid, echoed in (("trace-1.a_b:c", True), ("<script>x</script>", False)):
            resp = client.get("/api/v1/models/nope", headers={"X-Request-ID": rid})
            assert (resp.json()["request_id"] == rid) is echoed, resp.text
            assert (resp.headers["x-request-id"] == rid) is echoed
