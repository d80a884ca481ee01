"""firstpitch's BentoML services: the API (this module) and the model service (runners/).

The REST contract is a FastAPI app (firstpitch/api) mounted at "/"; BentoML's own /livez,
/readyz and /metrics stay. Three of its operations are also BentoML APIs, for BentoML's
clients (firstpitch/api/bento_ops.py). Clients for Redis, Postgres and the prediction log
are opened per worker in the startup hook and closed (log flushed) in the shutdown hook.
"""

from __future__ import annotations

from typing import Any

import bentoml

from firstpitch.api import bento_ops
from firstpitch.api.app import create_app, route_templates
from firstpitch.api.bento_guards import BentoOperations
from firstpitch.api.bento_ops import TodayRequest
from firstpitch.api.edges import BentoEdges
from firstpitch.api.schemas import (
    BatchPredictRequest,
    PredictionResponse,
    PredictRequest,
    TodayResponse,
)
from firstpitch.serving import draining
from firstpitch.serving.models import LocalModels, ModelBackend, RemoteModels
from firstpitch.serving.runtime import ApiRuntime
from firstpitch.serving.warm import warm_loop
from firstpitch.settings import Settings
from runners import bentoml_fixes, heap, route_labels
from runners.model_service import ModelService

bentoml_fixes.apply()
draining.install()  # event streams end before uvicorn waits for open responses

settings = Settings()
app = create_app(settings)
route_labels.labels.add(route_templates(app))
route_labels.labels.add(bento_ops.ROUTES.values())


@bentoml.service(
    name="firstpitch",
    workers=settings.api_workers,
    traffic={"timeout": 30},
    logging={"access": {"enabled": settings.access_log}},
)
@bentoml.asgi_app(app, path="/")
class FirstPitch:
    """The prediction API; models are served by ModelService through bentoml.depends."""

    model_service = bentoml.depends(ModelService)

    def __init__(self) -> None:
        self.runtime: ApiRuntime | None = None

    @bentoml.on_startup
    async def open_clients(self) -> None:
        backend: ModelBackend = (
            LocalModels(settings.mlflow_uri, settings.mlflow_artifacts)
            if settings.inference == "local"
            else RemoteModels(self.model_service, deadline_s=settings.model_timeout_ms / 1000)
        )
        self.runtime = await ApiRuntime.open(settings, backend)
        heap.freeze()
        app.state.runtime = self.runtime
        draining.on_drain(self.runtime.hub.close)
        self.runtime.spawn(warm_loop(self.runtime), "warm")

    @bentoml.on_shutdown
    async def close_clients(self) -> None:
        if self.runtime is not None:
            await self.runtime.close()

    # BentoML-native operations for BentoML's clients: the REST operations behind the same
    # guards (firstpitch/api/bento_ops.py, bento_guards.py).
    @bentoml.api(route=bento_ops.ROUTES["predict"], input_spec=PredictRequest)
    async def predict(self, ctx: bentoml.Context, **body: Any) -> PredictionResponse:
        """One game's prediction, as POST /api/v1/predict (scope `predictions`)."""
        return await bento_ops.predict(app, ctx, body)

    @bentoml.api(route=bento_ops.ROUTES["predict_batch"], input_spec=BatchPredictRequest)
    async def predict_batch(self, ctx: bentoml.Context, **body: Any) -> list[PredictionResponse]:
        """1 to 50 games, as POST /api/v1/predict/batch; costs one request per game."""
        return await bento_ops.predict_batch(app, ctx, body)

    @bentoml.api(route=bento_ops.ROUTES["predictions_today"], input_spec=TodayRequest)
    async def predictions_today(self, ctx: bentoml.Context, **body: Any) -> TodayResponse:
        """Today's games, as GET /api/v1/predictions/today; costs one request per game."""
        return await bento_ops.predictions_today(app, ctx, body)


FirstPitch.add_asgi_middleware(BentoEdges, debug=settings.debug)  # type: ignore[attr-defined]
FirstPitch.add_asgi_middleware(BentoOperations, api=app, settings=settings)  # type: ignore[attr-defined]
