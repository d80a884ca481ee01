"""Response models of the model routes: model cards, performance, the leaderboard with its
head-to-head comparison, and recent predictions (they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from firstpitch.api.schemas import BetRecommendation


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
