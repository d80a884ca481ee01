"""One place mapping errors to JSON responses: precise 4xx, generic 5xx, never a trace."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from firstpitch.serving.errors import ApiError, InvalidFeed, RateLimited
from firstpitch.serving.metrics import metrics
from firstpitch.serving.models import ModelUnavailable
from firstpitch.serving.outages import MODELS, POSTGRES, REDIS, OutageLog
from storage.postgres import DatabaseUnavailable
from storage.prediction_log import LogFull
from storage.redis import UNREACHABLE as REDIS_UNREACHABLE

RETRY = {"Retry-After": "1"}

log = logging.getLogger(__name__)
outages = OutageLog(log)  # an outage is expected: warned about, at most once in 10 s


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _body(error: str, message: str, request: Request, **extra: Any) -> dict[str, Any]:
    return {"error": error, "message": message, "request_id": _request_id(request), **extra}


def _detail(error: Any) -> dict[str, str]:
    """Where and why a request is invalid. A field that should not be there is reported at
    its parent: its name is client input, and so is every key of an unexpected object."""
    loc = [str(p) for p in error.get("loc", ())]
    reason = str(error["msg"])
    if error.get("type") == "extra_forbidden" and loc:
        loc, reason = loc[:-1], "unexpected field; see the schema at /openapi.json"
    return {"location": ".".join(loc), "reason": reason}


def validation_error(request: Request, errors: Sequence[Any]) -> JSONResponse:
    """422 ``validation_error``: location and reason of each error, never the input."""
    details = [_detail(e) for e in errors]
    summary = "; ".join(f"{d['location']}: {d['reason']}" for d in details)
    return JSONResponse(
        _body("validation_error", f"invalid request: {summary}", request, details=details),
        status_code=422,
    )


def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    headers = RETRY if exc.status == 503 else None
    extra = {"details": exc.details} if isinstance(exc, InvalidFeed) else {}
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse(
        _body(exc.code, exc.message, request, **extra), status_code=exc.status, headers=headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _api_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(request, exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own details ("Not Found", "Method Not Allowed") name no input; its
        # headers matter (a 405 must carry Allow). The path is not echoed.
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route; the API is described at /openapi.json"
        return JSONResponse(
            _body("http_error", message, request), status_code=exc.status_code, headers=exc.headers
        )

    def unavailable(request: Request, dependency: str, what: str, exc: Exception) -> JSONResponse:
        metrics().dependency_errors.labels(dependency).inc()
        named = {"models": MODELS, "postgres": POSTGRES, "redis": REDIS}[dependency]
        outages.warn(named, "requests answered 503", exc)
        return JSONResponse(
            _body("unavailable", f"{what} is unavailable; retry shortly", request),
            status_code=503,
            headers=RETRY,
        )

    @app.exception_handler(ModelUnavailable)
    async def models_down(request: Request, exc: ModelUnavailable) -> JSONResponse:
        return unavailable(request, "models", "the model service", exc)

    @app.exception_handler(DatabaseUnavailable)
    async def database_down(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return unavailable(request, "postgres", "the database (PostgreSQL)", exc)

    @app.exception_handler(LogFull)
    async def log_full(request: Request, exc: LogFull) -> JSONResponse:
        return unavailable(request, "postgres", "the prediction log (PostgreSQL is behind)", exc)

    for redis_error in REDIS_UNREACHABLE:

        @app.exception_handler(redis_error)
        async def redis_down(request: Request, exc: Exception) -> JSONResponse:
            return unavailable(
                request, "redis", "the feature store and prediction cache (Redis)", exc
            )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            _body(
                "internal_error", "internal error; the request id locates it in the logs", request
            ),
            status_code=500,
        )
