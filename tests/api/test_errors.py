"""Error mapping: precise 4xx, generic 5xx, never a trace or the offending input."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError

from firstpitch.api import errors
from firstpitch.serving.errors import UnknownGame
from firstpitch.serving.models import ModelUnavailable
from storage.postgres import DatabaseUnavailable
from storage.prediction_log import LogFull


def app() -> FastAPI:
    application = FastAPI()
    errors.install(application)

    @application.get("/unknown")
    async def unknown() -> None:
        raise UnknownGame("unknown game XXX202101010")

    @application.get("/models-down")
    async def models_down() -> None:
        raise ModelUnavailable("socket gone: /tmp/secret-path.sock")

    @application.get("/redis-down")
    async def redis_down() -> None:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379")

    @application.get("/db-down")
    async def db_down() -> None:
        raise DatabaseUnavailable("PostgreSQL unavailable (ConnectionRefusedError)")

    @application.get("/log-full")
    async def log_full() -> None:
        raise LogFull("the prediction log's spill holds 9 bytes (limit 8)")

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 in a stack trace")

    @application.get("/typed")
    async def typed(n: int) -> int:
        return n

    return application


async def test_error_bodies() -> None:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        unknown = await client.get("/unknown")
        assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_game"
        down = await client.get("/models-down")
        assert down.status_code == 503 and down.headers["retry-after"] == "1"
        assert "secret-path" not in down.text
        for path, what in (("/redis-down", "(Redis)"), ("/db-down", "(PostgreSQL)"),
                           ("/log-full", "prediction log")):  # fmt: skip
            resp = await client.get(path)
            assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
            assert what in resp.json()["message"] and "127.0.0.1" not in resp.text
        boom = await client.get("/boom")
        assert boom.status_code == 500 and boom.json()["error"] == "internal_error"
        assert "hunter2" not in boom.text and "Traceback" not in boom.text
        typed = await client.get("/typed", params={"n": "not-a-number-SECRET"})
        assert typed.status_code == 422 and "SECRET" not in typed.text
        assert typed.json()["details"][0]["location"] == "query.n"
