"""BentoML's own floor, a peer of the comparison: one worker, access log off, the process
fixes firstpitch runs with (``runners/bentoml_fixes.py``, the heap frozen after start-up:
``runners/heap.py``), and FastAPI routes at
firstpitch's two prediction paths that answer a constant of the response's shape. What any
route of this server costs before it does any work: the bar firstpitch's single-game
req/s are held to (``checks.py``: ≥ 0.7× on the full path, ≥ 0.85× on cache hits).

Served by ``loadtests/compare/peers.py: floor_target`` as
``bentoml serve loadtests.compare.floor_service:Floor``.
"""

from __future__ import annotations

from typing import Any

import bentoml
from fastapi import FastAPI

from runners import bentoml_fixes, heap, route_labels

bentoml_fixes.apply()

ANSWER = {"game_id": "floor", "home_ml_probability": 0.5, "total_over_probability": 0.5}
app = FastAPI(redirect_slashes=False)


@app.post("/api/v1/predict")
async def predict() -> dict[str, Any]:
    return ANSWER


@app.post("/api/v1/predict/batch")
async def predict_batch() -> list[dict[str, Any]]:
    return [ANSWER]


route_labels.labels.add(["/api/v1/predict", "/api/v1/predict/batch"])


@bentoml.service(name="floor", workers=1, logging={"access": {"enabled": False}})
@bentoml.asgi_app(app, path="/")
class Floor:
    """Nothing but the mounted routes, and the heap frozen once started (as firstpitch's)."""

    @bentoml.on_startup
    async def freeze_heap(self) -> None:
        heap.freeze()
