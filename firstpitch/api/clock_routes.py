"""``/api/v1/clock``: the service's clock, and (only where ``FIRSTPITCH_CLOCK_DRIVABLE`` allows
it) driving it, as a season replay does. A request's clock is read fresh from the shared
instant (``ClockFollower``), so every worker agrees on it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from firstpitch.api.deps import ERRORS, POST_ERRORS, Runtime
from firstpitch.serving import driven_clock
from firstpitch.serving.errors import ClockNotDrivable
from firstpitch.serving.runtime import ApiRuntime

router = APIRouter()


class ClockState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    now: AwareDatetime = Field(description="the instant the service works at (UTC)")
    mode: str = Field(description="real, pinned (FIRSTPITCH_NOW) or driven")
    drivable: bool


class DriveClock(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"now": "2021-06-01T13:00:00Z"}]}
    )
    now: AwareDatetime = Field(description="the instant to move the clock to (ISO 8601)")

    @field_validator("now", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        if not isinstance(value, str):  # not a number of seconds: an instant, written out
            raise ValueError("an ISO 8601 date-time with its offset, e.g. 2021-06-01T13:00:00Z")
        return value


class DrivenClock(ClockState):
    previous: AwareDatetime = Field(description="the instant the clock showed before")


def _state(rt: ApiRuntime) -> dict[str, Any]:
    clock = rt.clock
    mode = "driven" if clock.drivable else "pinned" if clock.pinned else "real"
    return {"now": clock.now(), "mode": mode, "drivable": clock.drivable}


@router.get("/api/v1/clock", response_model=ClockState, responses=ERRORS, tags=["clock"])
async def get_clock(rt: Runtime) -> dict[str, Any]:
    return _state(rt)


@router.post("/api/v1/clock", response_model=DrivenClock, responses=POST_ERRORS, tags=["clock"])
async def set_clock(body: DriveClock, rt: Runtime) -> dict[str, Any]:
    if not rt.clock.drivable:
        raise ClockNotDrivable(
            "this service's clock is not drivable; only a deployment started with "
            "FIRSTPITCH_CLOCK_DRIVABLE=true (never production) lets a replay move it"
        )
    previous = await driven_clock.drive(rt.redis, rt.clock, body.now)
    return _state(rt) | {"previous": previous}


@router.api_route(
    "/api/v1/clock", methods=["PUT", "PATCH", "DELETE", "OPTIONS"], include_in_schema=False
)
async def clock_methods() -> None:
    """Both methods in Allow (the router would name only the first route's)."""
    raise StarletteHTTPException(405, headers={"Allow": "GET, POST"})


class ClockFollower:
    """Before each request, take the shared driven instant (drivable deployments only)."""

    def __init__(self, app: ASGIApp, runtime: Any) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt: ApiRuntime | None = self.runtime()
        if scope["type"] == "http" and rt is not None:
            await driven_clock.follow(rt.redis, rt.clock)
        await self.app(scope, receive, send)
