"""Resolve where Postgres, Redis, MLflow and the BentoML store live for a given Settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from firstpitch.settings import Settings
from storage.embedded import embedded_servers


@dataclass(frozen=True)
class Endpoints:
    postgres_dsn: str
    redis_url: str


def resolve_endpoints(settings: Settings, *, start: bool = True) -> Endpoints:
    """Configured addresses win; otherwise the embedded servers (started when ``start``)."""
    postgres, redis = embedded_servers(settings.state_dir)
    if settings.postgres_dsn is not None:
        dsn = settings.postgres_dsn.get_secret_value()
    else:
        dsn = postgres.start() if start else postgres.dsn
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    else:
        url = redis.start() if start else redis.url
    return Endpoints(postgres_dsn=dsn, redis_url=url)


def resolve_postgres(settings: Settings) -> str:
    """Only the database (commands that need no Redis must not start one)."""
    if settings.postgres_dsn is not None:
        return settings.postgres_dsn.get_secret_value()
    return embedded_servers(settings.state_dir)[0].start()


def configure_environment(settings: Settings) -> None:
    """Point BentoML and MLflow at the state directory; call before importing bentoml."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BENTOML_HOME", str(settings.bentoml_home))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_TRACKING_URI", settings.mlflow_uri)
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
