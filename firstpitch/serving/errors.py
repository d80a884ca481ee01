"""Domain errors of the prediction API, each with its HTTP status and a fix-it message."""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UnknownGame(ApiError):
    status, code = 404, "unknown_game"


class UnknownModel(ApiError):
    status, code = 404, "unknown_model"


class UnknownModelVersion(ApiError):
    status, code = 404, "unknown_model_version"


class NoPrediction(ApiError):
    status, code = 404, "no_prediction"


class NoFeatures(ApiError):
    status, code = 404, "no_features"


class NotYetPredictable(ApiError):
    status, code = 409, "not_yet_predictable"


class GameCalledOff(ApiError):
    """Postponed or cancelled: no first pitch to predict (predicted again once rescheduled)."""

    status, code = 409, "game_called_off"

    @classmethod
    def of(cls, gone: dict[str, str]) -> GameCalledOff:
        """From game -> status."""
        return cls(
            "; ".join(f"game {g} is {status}" for g, status in sorted(gone.items()))
            + ": there is no first pitch to predict; a game is predicted again once it is "
            "rescheduled (feed kind `status`, status `rescheduled`)"
        )


class CutoffRefused(ApiError):
    status, code = 409, "cutoff_violation"


class Unavailable(ApiError):
    status, code = 503, "unavailable"


class InvalidQuery(ApiError):
    status, code = 422, "invalid_query"


class InvalidFeed(ApiError):
    """A feed batch refused whole; ``details`` name each bad record's index and field."""

    status, code = 422, "invalid_feed"

    def __init__(self, message: str, details: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.details = details


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ClockNotDrivable(ApiError):
    status, code = 403, "clock_not_drivable"


class TooManyStreams(RateLimited):
    status, code = 429, "too_many_streams"


class UnknownRecord(ApiError):
    status, code = 404, "unknown_record"


class NotReplayable(ApiError):
    """The record lacks what a replay needs (logged before vectors were kept), or one of its
    model versions is in no store any more."""

    status, code = 409, "not_replayable"


class UnknownRun(ApiError):
    status, code = 404, "unknown_run"
