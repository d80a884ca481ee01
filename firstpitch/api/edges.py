"""ASGI middleware at the edge of the BentoML server (outside our FastAPI app): what BentoML
itself would answer, made to look like the API's own errors."""

from __future__ import annotations

from typing import Any

from starlette.types import Message, Receive, Scope, Send

from firstpitch.api.guards import reject

HIDDEN = ("/docs.json", "/static_content", "/assets")


class BentoEdges:
    """BentoML's interactive UI stays hidden unless debug is on (our schema: /openapi.json),
    and its plain-text 404 — for paths its router does not pass to our app, e.g. one with a
    newline in it — becomes the API's JSON error body."""

    def __init__(self, app: Any, debug: bool = False) -> None:
        self.app, self.debug = app, debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if not self.debug and (path == "/" or path.startswith(HIDDEN)):
            await reject(scope, send, 404, "http_error", "interactive docs are disabled")
            return
        replaced = False

        async def send_json_404(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 404:
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(b"text/plain"):
                    replaced = True
                    return
            if replaced:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    await reject(scope, send, 404, "http_error",
                                 "no such route; the API is described at /openapi.json")  # fmt: skip
                return
            await send(message)

        await self.app(scope, receive, send_json_404)
