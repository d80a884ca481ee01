"""The REST app's guards in front of the BentoML-native operations (``bento_ops.py``).

BentoML routes its ``@bentoml.api`` methods itself, before the mounted REST app, so the
middleware inside that app never sees them. This middleware, at BentoML's edge, sends the
POSTs to those operations through the same guard classes, in the same order as
``create_app`` stacks them, sharing the REST app's in-flight budget (``Capacity``) and
runtime: request id, access control (API key, the ``predictions`` scope, the per-key rate
limit), load shedding, the driven clock where allowed, the body limit and timeout. Last,
the body is validated against the operation's request model with the REST app's 422 body,
so BentoML's own parsing only ever sees valid input (its refusal, a 400 in a shape of its
own, never answers). CORS is not applied: these operations are for BentoML's clients, not
browsers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firstpitch.api.access import AccessControl
from firstpitch.api.app import RequestIdMiddleware
from firstpitch.api.bento_ops import INPUTS
from firstpitch.api.body_limit import BodyLimit
from firstpitch.api.clock_routes import ClockFollower
from firstpitch.api.errors import validation_error
from firstpitch.api.shedding import LoadShedder
from firstpitch.settings import Settings


class Validated:
    """Refuses (422) a body that is not its operation's request model (or not labelled
    JSON); passes the rest on. The body arrives whole (the body limit read it)."""

    def __init__(self, app: ASGIApp, inputs: dict[str, type[BaseModel]]) -> None:
        self.app, self.inputs = app, inputs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        model = self.inputs[scope["path"]]
        try:
            if _json(scope):
                model.model_validate_json(body)
            else:  # as FastAPI does: a body labelled otherwise is not read as JSON
                model.model_validate(body)
        except ValidationError as exc:  # located as the REST app locates them: in the body
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            await validation_error(Request(scope), errors)(scope, receive, send)
            return
        # BentoML picks its parser by Content-Type: JSON (``+json`` types included).
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _json(scope: Scope) -> bool:
    """Whether the body is labelled JSON (an unlabelled one is not), as FastAPI decides."""
    media = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class BentoOperations:
    """``api``: the REST app (its ``state`` holds the capacity and, once started, the
    runtime); other requests pass untouched."""

    def __init__(self, app: ASGIApp, api: FastAPI, settings: Settings) -> None:
        self.app = app

        def runtime() -> Any:
            return getattr(api.state, "runtime", None)

        guarded: ASGIApp = Validated(app, INPUTS)
        guarded = BodyLimit(guarded, max_bytes=settings.max_body_bytes,
                            timeout_s=settings.body_timeout_s,
                            takes_body={("POST", path) for path in INPUTS})  # fmt: skip
        if settings.clock_drivable:
            guarded = ClockFollower(guarded, runtime=runtime)
        guarded = LoadShedder(guarded, capacity=api.state.capacity, keyed=settings.auth_enabled)
        guarded = AccessControl(guarded, runtime=runtime, enabled=settings.auth_enabled)
        self.guarded = RequestIdMiddleware(guarded)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in INPUTS:
            await self.guarded(scope, receive, send)
        else:
            await self.app(scope, receive, send)
