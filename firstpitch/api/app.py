"""The FastAPI application carrying the REST contract, mounted into the BentoML service."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firstpitch import __version__
from firstpitch.api import (
    bento_ops,
    clock_routes,
    errors,
    feed_routes,
    health,
    models_routes,
    predictions_routes,
    records_routes,
    stream_routes,
)
from firstpitch.api.access import AccessControl
from firstpitch.api.body_limit import BodyLimit
from firstpitch.api.guards import required_scope
from firstpitch.api.shedding import Capacity, LoadShedder
from firstpitch.settings import Settings

log = logging.getLogger(__name__)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestIdMiddleware:
    """Give every request an id (the client's X-Request-ID, else a new one) and echo it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"x-request-id", b"").decode("latin-1")
        # The id is echoed in headers and error bodies: only a plain token is taken as it is.
        rid = raw if REQUEST_ID.fullmatch(raw) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


def _secure_openapi(app: FastAPI) -> None:
    """Declare the API-key schemes, and which scope each /api/ operation needs."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "fpk_… API key"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            scope = required_scope(path)
            for operation in operations.values():
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                if scope:
                    operation["description"] = (
                        operation.get("description", "") + f"\n\nNeeds an API key with the "
                        f"`{scope}` scope."
                    ).strip()
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _plain_parameters(app: FastAPI) -> None:
    """Query and header parameters are absent or a value, never null: the schema says so (the
    generated ``anyOf [T, null]`` of an optional parameter invites clients and fuzzers to send
    the text "null", which is no value of T)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for param in operation.get("parameters", []):
                    alternatives = param.get("schema", {}).get("anyOf", [])
                    kept = [a for a in alternatives if a != {"type": "null"}]
                    if len(alternatives) == 2 and len(kept) == 1:
                        rest = {k: v for k, v in param["schema"].items() if k != "anyOf"}
                        param["schema"] = rest | kept[0]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def route_templates(app: FastAPI) -> list[str]:
    """The path template of every route (the metrics' ``endpoint`` label)."""
    every = (
        *app.router.routes,
        *predictions_routes.router.routes,
        *models_routes.router.routes,
        *health.router.routes,
    )
    return [r.path for r in every if isinstance(r, Route | APIRoute)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="firstpitch",
        version=__version__,
        description="Real-time MLB game predictions with point-in-time features.",
        # Interactive docs only in debug; the OpenAPI schema is always at /openapi.json.
        docs_url="/docs" if settings.debug else None,
        redoc_url="/redoc" if settings.debug else None,
        openapi_url="/openapi.json",
        # A redirect from /path/ to /path would be built from the client's Host header.
        redirect_slashes=False,
    )
    routers = (
        predictions_routes.router,
        models_routes.router,
        records_routes.router,
        feed_routes.router,
        stream_routes.router,
        clock_routes.router,
        health.router,
        bento_ops.router,
    )
    for router in routers:
        app.include_router(router)
    every_route = [r for router in routers for r in router.routes]
    takes_body = {
        (method, r.path)
        for r in every_route
        if isinstance(r, APIRoute) and r.body_field is not None
        for method in r.methods or ()
    }
    capacity = Capacity(
        settings.max_in_flight, settings.max_in_flight_open, settings.stream_max_open
    )
    app.state.capacity = capacity  # the readiness probe reports its saturation
    # Last added runs first: request id, CORS, access control, shedding, body limit. Access
    # control comes before shedding so that only keyed API requests use the API's budget.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       timeout_s=settings.body_timeout_s, takes_body=takes_body,
                       routes=every_route)  # fmt: skip
    if settings.clock_drivable:  # innermost: a request that gets this far reads the clock
        app.add_middleware(
            clock_routes.ClockFollower, runtime=lambda: getattr(app.state, "runtime", None)
        )
    app.add_middleware(LoadShedder, capacity=capacity, keyed=settings.auth_enabled)
    app.add_middleware(
        AccessControl,
        runtime=lambda: getattr(app.state, "runtime", None),
        enabled=settings.auth_enabled,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(RequestIdMiddleware)
    errors.install(app)
    _plain_parameters(app)
    if settings.auth_enabled:
        _secure_openapi(app)
    else:
        log.warning(
            "API authentication is OFF (FIRSTPITCH_AUTH_ENABLED=false): anyone who can reach "
            "this server can call every endpoint; do not expose it beyond this machine"
        )
    return app
