"""Request and response models of the REST contract (they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import date
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


# ----------------------------------------------------------------------------- models
class ModelCard(BaseModel):
    model_name: str
    model_version: str
    model_type: str
    is_active: bool
    created_at: str
    target_variable: str
    prediction_type: str
    feature_version: str | None
    metrics: dict[str, float | None]
    test_metrics: dict[str, float]
    hyperparameters: dict[str, str]
    mlflow_run_id: str
    mlflow_uri: str
    data_range: dict[str, str | None]
    training_range: str | None = Field(None, description="Seasons trained on, e.g. 2005-2019")
    validation_range: str | None = Field(
        None, description="Season(s) the grid was tuned and early-stopped on"
    )
    test_range: str | None = Field(
        None, description="Season(s) held out of training and tuning: out-of-sample scores"
    )


class ActiveModel(ModelCard):
    bento_tag: str


class ActiveModels(BaseModel):
    models: list[ActiveModel]
    default_model: str


class ModelDetails(ModelCard):
    versions: list[str]
    total_predictions: int
    recent_accuracy: float | None
    recent_roi: float | None
    recent_window_days: int


class Performance(BaseModel):
    prediction_type: str
    predictions: int
    resolved: int
    pending: int
    accuracy: float | None
    brier: float | None
    log_loss: float | None
    auc: float | None
    bets: int
    bets_won: int
    roi: float | None = Field(description="Mean profit per unit bet on recommended bets")
    roi_staked: float | None = Field(description="Profit over amount staked (Kelly sizes)")
    closing_line_value: float | None
    clv_bets: int


class ModelPerformance(Performance):
    model_name: str
    model_version: str
    days: int = Field(description="The window in days (a date range: the days it spans)")
    date_from: date | None = Field(None, description="The date range asked for, if any")
    date_to: date | None = None
    run: str | None = Field(None, description="The backtest run asked for, if any")


class LeaderboardEntry(Performance):
    rank: int
    model_name: str
    model_version: str


class HeadToHeadEntry(BaseModel):
    rank: int
    model_version: str
    role: str = Field(description="champion or challenger")
    games: int
    log_loss: float | None
    brier: float | None
    calibration_error: float | None = Field(
        description="Expected calibration error: 10 equal-width probability bins, each bin's "
        "|mean probability - frequency| weighted by its games"
    )
    accuracy: float | None
    bets: int
    roi: float | None = Field(description="Mean profit per unit of the recommended bets")
    clv_bets: int
    closing_line_value: float | None


class PairedInterval(BaseModel):
    mean_difference: float | None = Field(description="Per game, challenger minus champion")
    std_error: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None = Field(description="Paired t-test, two-sided")


class PairedComparison(BaseModel):
    model_version: str
    games: int
    log_loss: PairedInterval
    brier: PairedInterval


class HeadToHead(BaseModel):
    prediction_type: str
    model_name: str
    champion_version: str
    challenger_versions: list[str]
    games: int = Field(
        description="Resolved games every version predicted: all are ranked on these"
    )
    confidence: float
    max_games: int = Field(description="At most the champion's latest this many games count")
    truncated: bool
    entries: list[HeadToHeadEntry]
    comparisons: list[PairedComparison]


class Leaderboard(BaseModel):
    metric: str
    days: int
    prediction_type: str | None
    date_from: date | None = None
    date_to: date | None = None
    run: str | None = Field(None, description="The backtest run asked for, if any")
    leaderboard: list[LeaderboardEntry]
    head_to_head: list[HeadToHead] = Field(
        default_factory=list,
        description="The served champion and its challengers on the same resolved games",
    )


class RecentPrediction(BaseModel):
    game_id: str
    predicted_at: str
    probability: float
    predicted: int
    actual: int | None
    correct: bool | None
    home_score: int | None
    away_score: int | None
    recommendation: BetRecommendation


class RecentPredictions(BaseModel):
    model_name: str
    model_version: str
    prediction_type: str
    count: int
    predictions: list[RecentPrediction]


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
    now: str | None = Field(None, description="With an API key only")


class Ready(BaseModel):
    ready: bool
    failing: list[str]


class Live(BaseModel):
    status: str
