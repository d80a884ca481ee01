"""The FastAPI application carrying the REST contract, mounted into the BentoML service."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firstpitch import __version__
from firstpitch.api import errors, routes


class RequestIdMiddleware:
    """Give every request an id (the client's X-Request-ID, else a new one) and echo it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        rid = raw if raw.isprintable() and raw else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(debug: bool = False) -> FastAPI:
    app = FastAPI(
        title="firstpitch",
        version=__version__,
        description="Real-time MLB game predictions with point-in-time features.",
        # Interactive docs only in debug; the OpenAPI schema is always at /openapi.json.
        docs_url="/docs" if debug else None,
        redoc_url="/redoc" if debug else None,
        openapi_url="/openapi.json",
    )
    app.add_middleware(RequestIdMiddleware)
    app.include_router(routes.router)
    errors.install(app)
    return app
