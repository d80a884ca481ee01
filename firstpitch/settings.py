"""The one typed settings object, read from ``FIRSTPITCH_*`` environment variables."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage import state_paths

PROJECT_ROOT = state_paths.PROJECT_ROOT


def _default_data_dir() -> Path:
    shared = PROJECT_ROOT.parent / "shared" / "data"
    return shared if shared.exists() else PROJECT_ROOT / "data"


class Settings(BaseSettings):
    """Runtime configuration. Unset addresses mean: start the embedded servers."""

    # Empty variables count as unset (a container image declares them with empty defaults).
    model_config = SettingsConfigDict(
        env_prefix="FIRSTPITCH_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    postgres_dsn: SecretStr | None = None
    """PostgreSQL DSN (postgresql://user:pass@host:port/db); unset starts the embedded server."""
    redis_url: SecretStr | None = None
    """Redis URL (redis://host:port/db); unset starts the embedded Valkey server."""
    mlflow_tracking_uri: str | None = None
    """MLflow tracking URI; unset uses a local store in the state directory."""
    data_dir: Path = Field(default_factory=_default_data_dir)
    """Raw data: retrosheet/ game logs and odds/ workbooks."""
    state_dir: Path = state_paths.DEFAULT_STATE_DIR
    """Embedded servers' data, the MLflow store and the BentoML home."""
    now: datetime | None = None
    """Pins the clock (ISO-8601); unset means real time."""
    local_timezone: str = "America/New_York"
    """Time zone whose calendar day is "today"."""
    feature_ttl_s: int = 3 * 24 * 3600
    """TTL of feature vectors in Redis."""
    prediction_ttl_s: int = 6 * 3600
    """TTL of cached predictions in Redis."""
    cutoff_minutes: int = 60
    """No feature may use information from later than this many minutes before first pitch."""
    debug: bool = False
    """Expose interactive API docs and verbose errors in logs."""

    # Serving
    host: str = "127.0.0.1"
    """Address `firstpitch serve` binds to."""
    port: int = 3000
    """Port `firstpitch serve` listens on."""
    api_workers: int = 1
    """Worker processes of the API service."""
    model_workers: int = 1
    """Worker processes of the model service."""
    access_log: bool = False
    """BentoML's per-request access log (metrics carry latencies; off saves ~5% CPU)."""
    inference: str = "local"
    """Where models run: "local" (in each API worker; the default, 2-3x the throughput of the
    hop on 2 cores, see README) or "service" (the batching model service via depends)."""
    batching: bool = True
    """Adaptive batching in the model service."""
    max_batch_size: int = 128
    """Largest batch (rows) the model service forms."""
    max_latency_ms: int = 1000
    """Batcher's shedding threshold; requests it would delay longer are retried by the API."""
    model_timeout_ms: int = 2000
    """Deadline of a model-service call, retries included; a miss answers 503 and fails the
    next calls fast for a second (a dead model process is waited on, not refused)."""
    champion_poll_s: float = 1.0
    """How often each API worker checks which versions are champion (`firstpitch promote`
    announces a change in Redis); a new champion serves within this plus its load time."""
    prediction_cache: bool = True
    """Serve cached predictions; off makes every call take the full path (for benchmarks)."""
    default_model: str = "firstpitch-home-win"
    """Model answering predictions when the request names none."""
    spill_dir: Path | None = None
    """Where prediction records wait while Postgres is unreachable (default: state/spill)."""
    log_batch_size: int = 2000
    """Prediction records written per COPY batch."""
    log_flush_ms: int = 200
    """Longest a prediction record waits in memory before being written."""
    log_queue_records: int = 8000
    """Prediction records held in memory at most; beyond it they go to the spill file. With
    one batch being written, this bounds what a crash of a worker can lose."""
    log_queue_bytes: int = 16 << 20
    """Bytes of encoded prediction records held in memory at most (spill beyond it)."""
    log_spill_max_bytes: int = 8 << 30
    """Spill files (all workers) at most; beyond it predictions answer 503 rather than be
    served unrecorded."""
    prediction_log: bool = True
    """Benchmarks only: false serves without recording predictions (nothing is logged)."""
    log_writer_process: bool = True
    """Served batches' records are built and written by a process of their own beside each
    API worker (``firstpitch/serving/log_writer.py``); false does it in the worker."""
    log_writer_nice: int = Field(default=10, ge=0, le=19)
    """The writer process's CPU priority (nice, 0-19), and the background outcome fold's
    PostgreSQL process's: logging is background work, so where
    it and the API worker contend for a core, requests go first."""
    shadow_scoring: bool = True
    """Benchmarks only: false leaves the announced challengers unscored (the peer of
    loadtests/bench_shadow.py)."""
    redis_timeout_ms: int = 500
    """Per-operation Redis timeout on the serving path (connect, read, pool wait)."""
    postgres_timeout_ms: int = 2000
    """Connect timeout to Postgres on the serving path (an outage answers 503 within it)."""
    postgres_queue_ms: int = 10000
    """Longest a request queues for a free Postgres connection under load."""

    # Live feed
    feed_max_skew_s: float = 120.0
    """A feed record known later than the service's clock plus this is refused (422)."""
    clock_drivable: bool = False
    """Lets a key with the feed scope move the service's clock (POST /api/v1/clock), as a
    season replay does. Never in production: there the clock is real time."""
    reprice_timeout_s: float = 10.0
    """Longest the re-pricing after a committed feed batch may take before it is given up
    (the write stands; the failure is logged and counted)."""

    # Event stream
    stream_key: str = "fp:events"
    """The Redis Stream every worker and replica publishes to and reads from."""
    stream_retention_events: int = 100_000
    """Events the stream keeps at most (approximate trimming: XADD MAXLEN ~)."""
    stream_retention_s: int = 86_400
    """Events older than this are trimmed (XTRIM MINID ~); a resume from before is told so."""
    stream_heartbeat_s: float = 15.0
    """A heartbeat event on a stream with nothing else to send for this long."""
    stream_max_seconds: float = 3600.0
    """Longest a stream stays open (then an `end` event; the client resumes with
    Last-Event-ID), so connections rebalance across workers and replicas."""
    stream_max_per_key: int = 10
    """Open streams one API key may hold at once, across workers and replicas (429 beyond)."""
    stream_max_open: int = 1000
    """Open streams one API worker holds at most (503 beyond): a budget of their own, apart
    from FIRSTPITCH_MAX_IN_FLIGHT."""
    stream_client_queue: int = 1000
    """Events waiting for one client at most; a client that falls this far behind is sent an
    `end` event and dropped (it resumes with Last-Event-ID), never slowing the others."""

    # Protection
    auth_enabled: bool = True
    """Require an API key on /api/ routes (health probes and /metrics stay open). The embedded
    demo (`firstpitch serve` without configured addresses) turns it off, with a warning."""
    auth_refresh_s: float = 5.0
    """How often each worker reloads the key table: a revoked key stops working within this."""
    rate_limit_per_minute: int = 600
    """Games a key may ask for per minute (a call costs 1, a batch one per game), across every
    worker and replica (held in Redis)."""
    rate_limit_burst: int = 60
    """Games a key may ask for at once before the per-minute rate applies."""
    max_in_flight: int = 64
    """Requests one API worker handles at once; more are shed with 503 + Retry-After."""
    max_in_flight_open: int = 8
    """Requests one API worker handles at once outside keyed /api/ calls (/health, unknown
    paths, ...): their own budget, so they cannot use up the API's."""
    max_body_bytes: int = 64 * 1024
    """Largest request body accepted (413 beyond it)."""
    body_timeout_s: float = 5.0
    """Longest a request body may take to arrive (408 past it)."""
    cors_origins: list[str] = []
    """Browser origins allowed by CORS (JSON list, e.g. ["https://app.example"]); empty: none."""

    # Betting
    devig_method: str = "multiplicative"
    """How odds are de-vigged: multiplicative, power or shin."""
    kelly_multiplier: float = 0.25
    """Fraction of the full Kelly stake recommended."""
    max_bet_fraction: float = 0.05
    """Cap on the recommended stake, as a fraction of bankroll."""
    min_edge: float = 0.02
    """Model minus de-vigged market probability needed to recommend a bet."""
    min_confidence: float = 0.55
    """Probability of the predicted outcome needed to recommend a bet."""

    @field_validator("body_timeout_s", "reprice_timeout_s", "stream_heartbeat_s",
                     "stream_max_seconds", "champion_poll_s")  # fmt: skip
    @classmethod
    def _positive_time(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator(
        "max_in_flight",
        "max_in_flight_open",
        "max_body_bytes",
        "rate_limit_per_minute",
        "rate_limit_burst",
        "log_batch_size",
        "log_queue_records",
        "log_queue_bytes",
        "log_spill_max_bytes",
        "stream_retention_events",
        "stream_retention_s",
        "stream_max_per_key",
        "stream_max_open",
        "stream_client_queue",
    )
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("now")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("FIRSTPITCH_NOW must carry a time zone, e.g. 2021-07-04T15:00:00Z")
        return value.astimezone(UTC)

    @field_validator("data_dir", "state_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.local_timezone)

    @property
    def mlflow_uri(self) -> str:
        return state_paths.mlflow_uri(self.mlflow_tracking_uri, self.state_dir)

    @property
    def mlflow_artifacts(self) -> Path:
        return state_paths.mlflow_artifacts(self.state_dir)

    @property
    def spill_path(self) -> Path:
        return self.spill_dir or self.state_dir / "spill"

    @property
    def bentoml_home(self) -> Path:
        return self.state_dir / "bentoml"

    def __repr__(self) -> str:  # secrets stay hidden: SecretStr already masks them
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "tz")
        return f"Settings({fields})"
