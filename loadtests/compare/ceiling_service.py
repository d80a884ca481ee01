"""A ceiling for firstpitch on this machine, a peer of the comparison: BentoML's floor
(``floor_service.py``: one worker, access log off, the process fixes, the heap frozen) plus
only what a server of firstpitch's answers cannot skip: reading the request's game ids,
both champions' model call on the games' feature vectors (from memory, not Redis), and a
response of firstpitch's own shape and size (``ceiling_answer.json``, one real answer,
with each game's id and probabilities put in). No feature store, cutoff check, betting,
cache or logging: whatever firstpitch does above this is what a faster firstpitch could
save; what this peer does not reach, no firstpitch on this machine reaches.

Served by ``loadtests/compare/peers.py: ceiling_target`` as
``bentoml serve loadtests.compare.ceiling_service:Ceiling``, with ``FIRSTPITCH_CEILING_DIR``
holding ``vectors.npz`` (``ids``, ``rows``) and the champions as LightGBM text models
(``home_win.txt``, ``total_over.txt``), written by the harness.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bentoml
import lightgbm as lgb
import numpy as np
import orjson
from fastapi import FastAPI, Request, Response

from runners import bentoml_fixes, heap, route_labels
from runners.fast_predict import FastBooster

bentoml_fixes.apply()

HERE = Path(__file__).parent
TEMPLATE: dict[str, Any] = json.loads((HERE / "ceiling_answer.json").read_text())
WORK = Path(os.environ.get("FIRSTPITCH_CEILING_DIR", "."))
app = FastAPI(redirect_slashes=False)
state: dict[str, Any] = {}


def load() -> None:
    """The games' rows and both champions, once, before the first request."""
    data = np.load(WORK / "vectors.npz")
    state["index"] = {str(g): i for i, g in enumerate(data["ids"])}
    state["rows"] = np.ascontiguousarray(data["rows"], dtype=np.float64)
    state["models"] = [
        FastBooster(lgb.Booster(model_file=str(WORK / f"{t}.txt")))
        for t in ("home_win", "total_over")
    ]


def answers(game_ids: list[str]) -> list[dict[str, Any]]:
    rows = state["rows"][[state["index"][g] for g in game_ids]]
    home, over = (m.predict(rows) for m in state["models"])
    return [
        TEMPLATE | {"game_id": g, "home_ml_probability": float(h),
                    "total_over_probability": float(o)}
        for g, h, o in zip(game_ids, home, over, strict=True)
    ]  # fmt: skip


@app.post("/api/v1/predict")
async def predict(request: Request) -> Response:
    (answer,) = answers([orjson.loads(await request.body())["game_id"]])
    return Response(orjson.dumps(answer), media_type="application/json")


@app.post("/api/v1/predict/batch")
async def predict_batch(request: Request) -> Response:
    body = orjson.loads(await request.body())
    return Response(orjson.dumps(answers(body["game_ids"])), media_type="application/json")


route_labels.labels.add(["/api/v1/predict", "/api/v1/predict/batch"])


@bentoml.service(name="ceiling", workers=1, logging={"access": {"enabled": False}})
@bentoml.asgi_app(app, path="/")
class Ceiling:
    """The mounted routes; the models loaded and the heap frozen once started."""

    @bentoml.on_startup
    async def start(self) -> None:
        load()
        heap.freeze()
