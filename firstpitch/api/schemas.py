"""Request and response models of the REST contract (they make the OpenAPI schema): the
identifiers, the prediction requests and responses, the error body and the health probes'
answers. The model routes' answers are in ``model_schemas.py``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

GameId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}[0-9]{8}[0-3AB]$"),
    Field(
        description="Retrosheet game id: home team, yyyymmdd, game number",
        examples=["CHN202104010"],
    ),
]
ModelName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$"),
    Field(description="Registered model name", examples=["firstpitch-home-win"]),
]
ModelVersion = Annotated[
    str,
    StringConstraints(pattern=r"^[1-9][0-9]{0,8}$"),
    Field(description="Registry version (default: the champion)", examples=["1"]),
]


MAX_BATCH = 50


# Requests are validated strictly: exactly what the schema says, no coercion ("true" is not
# a boolean, " CHN202104010" is not a game id), no unknown fields.
STRICT = ConfigDict(extra="forbid", strict=True)


class PredictRequest(BaseModel):
    model_config = STRICT
    game_id: GameId
    model_name: ModelName | None = Field(None, description="Default: the home-win champion")
    include_explanation: bool = False
    model_version: ModelVersion | None = Field(
        None,
        description="Default: the champion. A challenger's version is served only when asked "
        "for here (challengers otherwise score in shadow, logged and never served)",
    )


class BatchPredictRequest(BaseModel):
    model_config = STRICT
    game_ids: list[GameId] = Field(min_length=1, max_length=MAX_BATCH)
    model_name: ModelName | None = Field(None, description="Default: the home-win champion")
    include_explanation: bool = False
    model_version: ModelVersion | None = Field(
        None,
        description="Default: the champion. A challenger's version is served only when asked "
        "for here (challengers otherwise score in shadow, logged and never served)",
    )


class BetRecommendation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    market: str
    side: str | None
    line: float | None = None
    odds: int | None = Field(description="American odds used (the opening line)")
    decimal_odds: float | None
    market_probability: float | None = Field(description="De-vigged market probability")
    model_probability: float | None
    edge: float | None
    expected_value: float | None = Field(description="Per unit staked")
    kelly_fraction: float
    recommended_bet_size: float = Field(
        description="Fraction of bankroll (capped fractional Kelly)"
    )
    confidence_required: float
    minimum_edge: float
    recommended: bool
    reason: str
    devig_method: str


class TopFeature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str
    value: float | None
    contribution: float


class Explanation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_features: list[TopFeature]
    feature_importance: dict[str, float] = Field(description="This prediction's contributions")
    model_type: str
    num_features: int
    base_value: float
    contribution_space: str


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str
    model_version: str


class PredictionResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    game_id: str
    model_name: str
    model_version: str
    prediction_timestamp: str
    feature_version: str
    feature_cutoff_time: str
    feature_as_of: str
    home_ml_probability: float
    home_ml_binary: int
    home_ml_confidence: float
    total_over_probability: float
    total_over_binary: int
    total_over_confidence: float
    confidence_threshold_met: bool
    risk_level: str
    betting_recommendations: dict[str, BetRecommendation]
    explanation: Explanation | None = None
    home_team: str
    away_team: str
    scheduled_start: str
    models: dict[str, ModelRef]
    cache_hit: bool


class TodayResponse(BaseModel):
    date: str
    model_name: str
    min_confidence: float
    count: int
    predictions: list[PredictionResponse]


class ErrorBody(BaseModel):
    error: str
    message: str
    request_id: str | None = None
    details: list[dict[str, Any]] | None = None


# ----------------------------------------------------------------------------- health
class Component(BaseModel):
    status: str = Field(description="up or down")
    latency_ms: float
    error: str | None = Field(None, description="Exception class when down")
    detail: Any = None


class Health(BaseModel):
    status: str = Field(description="healthy or unhealthy")
    failing: list[str]
    components: dict[str, Component] | None = Field(None, description="With an API key only")
    log_queue_depth: int | None = Field(None, description="With an API key only")
    log_spill_bytes: int | None = Field(None, description="With an API key only")
    log_writer: dict[str, Any] | None = Field(
        None,
        description="With an API key only: the log's writer process (alive, queue_depth, "
        "in_socket, written, spilled; shadow_scored and shadow_failed: the challengers' "
        "records it scored, the games it could not score), null when the worker writes its "
        "own records",
    )
    now: str | None = Field(None, description="With an API key only")


class Ready(BaseModel):
    ready: bool
    failing: list[str]


class Live(BaseModel):
    status: str
