"""Response models of the prediction-record endpoints (a logged record, its replay)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from firstpitch.api.schemas import BetRecommendation, ModelRef


class PolicySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    devig_method: str
    kelly_multiplier: float
    max_bet_fraction: float
    min_edge: float
    min_confidence: float


class LoggedRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: str
    request_id: str
    endpoint: str
    game_id: str
    model_name: str
    model_version: str
    models: dict[str, ModelRef] = Field(description="The version of each target's model used")
    feature_version: str
    feature_hash: str = Field(description="sha256 of the float64 little-endian vector")
    feature_as_of: str
    feature_cutoff: str
    predicted_at: str
    cache_hit: bool
    shadow: bool = Field(False, description="A challenger's answer, logged and not served")
    home_ml_probability: float
    total_over_probability: float
    home_ml_confidence: float
    total_over_confidence: float
    odds_used: dict[str, float | int | None]
    recommendations: dict[str, BetRecommendation]
    latency_ms: float
    policy: PolicySettings | None = Field(description="Betting policy; null in older records")
    feature_vector: str | None = Field(
        description="The vector, float64 little-endian, base64; null in older records"
    )
    features: dict[str, float | None] | None = Field(
        description="The vector by feature name (null values are missing features); given "
        "when the record's feature version is the one this service computes"
    )
    replayable: bool


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home_ml_probability: float
    total_over_probability: float
    home_ml_confidence: float
    total_over_confidence: float
    recommendations: dict[str, BetRecommendation]


class Replay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: str
    game_id: str
    models: dict[str, ModelRef]
    feature_version: str
    policy: PolicySettings
    identical: bool = Field(description="Every answer field equal, bit for bit")
    differences: list[str] = Field(description="The fields that are not identical")
    logged: Answer
    replayed: Answer
