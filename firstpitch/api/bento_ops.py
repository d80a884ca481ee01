"""BentoML-native operations: ``predict``, ``predict_batch`` and ``predictions_today`` as
``@bentoml.api`` methods (declared in service.py), so that BentoML's own clients
(``bentoml.SyncHTTPClient``, ``AsyncHTTPClient``) and its ``/schema.json`` see them.

They are the REST operations through another door, not a second implementation: the same
guards stand in front of them (``bento_guards.py``: request id, API key and scope, rate
limit, load shedding, body limit, validation against the REST request models), and each
calls the REST route's own function, so the predictor, cache, cutoff, prediction log and
per-game rate charging are the ones ``POST /api/v1/predict`` uses, and the body is the REST
body byte for byte. Errors go through the REST app's exception handlers: the same status and
``{error, message, request_id}`` body.

Bodies: ``predict`` takes ``POST /api/v1/predict``'s body, ``predict_batch`` that of
``POST /api/v1/predict/batch``, ``predictions_today`` ``{"model_name"?, "min_confidence"?}``
(the query parameters of ``GET /api/v1/predictions/today``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

import bentoml
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from firstpitch.api import deps, predictions_routes
from firstpitch.api.schemas import (
    STRICT,
    BatchPredictRequest,
    ModelName,
    PredictionResponse,
    PredictRequest,
    TodayResponse,
)
from firstpitch.serving.errors import Unavailable
from firstpitch.serving.runtime import ApiRuntime

PREFIX = "/api/v1/bento"
ROUTES = {
    "predict": f"{PREFIX}/predict",
    "predict_batch": f"{PREFIX}/predict_batch",
    "predictions_today": f"{PREFIX}/predictions_today",
}


class TodayRequest(BaseModel):
    """``GET /api/v1/predictions/today``'s query parameters, as a body."""

    model_config = STRICT
    model_name: ModelName | None = Field(None, description="Default: the home-win champion")
    min_confidence: Annotated[float, Field(ge=0.5, le=1.0)] = 0.5


# What each operation's body must be; bento_guards.py validates it before BentoML parses it.
INPUTS: dict[str, type[BaseModel]] = {
    ROUTES["predict"]: PredictRequest,
    ROUTES["predict_batch"]: BatchPredictRequest,
    ROUTES["predictions_today"]: TodayRequest,
}

Call = Callable[[ApiRuntime, str, Request], Awaitable[Response]]

# The operations in the REST app's schema (/openapi.json), so that its clients and the schema
# fuzzer see them too. BentoML's router answers these POSTs before the mounted app would;
# the app's own routes below do the same thing should the app be served alone, and make
# other methods 405.
router = APIRouter(tags=["bento"])


@router.post(ROUTES["predict"], response_model=PredictionResponse, responses=deps.POST_ERRORS)
async def bento_predict(body: PredictRequest, rt: deps.Runtime, rid: deps.RequestId) -> Response:
    """BentoML-native `predict`: as `POST /api/v1/predict`."""
    return await predictions_routes.predict(body, rt, rid)


@router.post(
    ROUTES["predict_batch"], response_model=list[PredictionResponse], responses=deps.POST_ERRORS
)
async def bento_predict_batch(
    body: BatchPredictRequest, rt: deps.Runtime, rid: deps.RequestId, request: Request
) -> Response:
    """BentoML-native `predict_batch`: as `POST /api/v1/predict/batch`."""
    return await predictions_routes.predict_batch(body, rt, rid, request)


@router.post(ROUTES["predictions_today"], response_model=TodayResponse, responses=deps.POST_ERRORS)
async def bento_predictions_today(
    body: TodayRequest, rt: deps.Runtime, rid: deps.RequestId, request: Request
) -> Response:
    """BentoML-native `predictions_today`: as `GET /api/v1/predictions/today`."""
    return await predictions_routes.predictions_today(
        rt, rid, request, model_name=body.model_name, min_confidence=body.min_confidence
    )


async def _error(api: FastAPI, request: Request, exc: Exception) -> Response:
    """The REST app's answer to ``exc``: its handler for the nearest class (as Starlette
    looks them up), so both doors give the same status and body."""
    for cls in type(exc).__mro__:
        handler: Any = api.exception_handlers.get(cls)
        if handler is not None:
            return cast(Response, await handler(request, exc))
    raise exc  # pragma: no cover - the app handles Exception itself


async def _answer(api: FastAPI, ctx: bentoml.Context, call: Call) -> Response:
    request: Request = ctx.request
    try:
        rt: ApiRuntime | None = getattr(api.state, "runtime", None)
        if rt is None:
            raise Unavailable("the service is starting; retry shortly")
        response = await call(rt, await deps.request_id(request), request)
    except Exception as exc:
        response = await _error(api, request, exc)
    # BentoML sends a returned Response as it is, but with the context's status and headers.
    ctx.response.status_code = response.status_code
    return response


async def predict(api: FastAPI, ctx: bentoml.Context, fields: dict[str, Any]) -> PredictionResponse:
    """``POST /api/v1/predict``. Typed as the schema shows it: what is returned is the REST
    route's response itself (BentoML passes a Response through unchanged)."""
    body = PredictRequest.model_validate(fields)
    return cast(
        PredictionResponse,
        await _answer(api, ctx, lambda rt, rid, _: predictions_routes.predict(body, rt, rid)),
    )


async def predict_batch(
    api: FastAPI, ctx: bentoml.Context, fields: dict[str, Any]
) -> list[PredictionResponse]:
    """``POST /api/v1/predict/batch``: a batch costs one request per game."""
    body = BatchPredictRequest.model_validate(fields)
    return cast(
        list[PredictionResponse],
        await _answer(
            api,
            ctx,
            lambda rt, rid, request: predictions_routes.predict_batch(body, rt, rid, request),
        ),
    )


async def predictions_today(
    api: FastAPI, ctx: bentoml.Context, fields: dict[str, Any]
) -> TodayResponse:
    """``GET /api/v1/predictions/today``: costs one request per game of the day."""
    body = TodayRequest.model_validate(fields)
    return cast(
        TodayResponse,
        await _answer(
            api,
            ctx,
            lambda rt, rid, request: predictions_routes.predictions_today(
                rt, rid, request, model_name=body.model_name, min_confidence=body.min_confidence
            ),
        ),
    )
