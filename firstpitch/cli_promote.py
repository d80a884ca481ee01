"""``firstpitch promote MODEL VERSION [--challenger | --retire]``: point the MLflow alias at a
version, import it into the BentoML store and announce the new champion (or challenger) set,
which every running API worker adopts within ``champion_poll_s`` plus the time to load it.
Rollback is the same command with the earlier version; ``--retire`` stops a challenger."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _info(target: str, model: Any) -> dict[str, str]:
    """A BentoML model as the served champion set describes it (the model service's info)."""
    labels = model.info.labels
    return {
        "target": target,
        "name": model.tag.name,
        "version": labels.get("mlflow_version", model.tag.version),
        "tag": str(model.tag),
        "feature_version": labels.get("feature_version", ""),
        "mlflow_uri": labels.get("mlflow_uri", ""),
        "created_at": model.info.creation_time.isoformat(),
    }


async def announce(redis_url: str, target: str, model: Any) -> dict[str, dict[str, str]]:
    """The champion set with ``model`` for ``target``; the other target as announced before
    (else the store's champion), written to Redis."""
    from storage import champion_state, registry
    from storage import redis as redis_store
    from training.dataset import REGISTERED_NAMES

    client = await redis_store.connect(redis_url)
    try:
        info = await champion_state.read(client) or {}
        for other, name in REGISTERED_NAMES.items():
            if other != target and other not in info:
                champion = registry.bento_champion(name)
                if champion is None:
                    _fail(f"{name} has no champion yet; promote a version of it first")
                info[other] = _info(other, champion)
        info[target] = _info(target, model)
        await champion_state.write(client, info)
        return info
    finally:
        await client.aclose()


async def announce_challengers(redis_url: str, tracking_uri: str, artifacts: Any) -> Any:
    """Every version carrying a challenger alias, per target, written to Redis (each imported
    into the BentoML store if it is not there yet)."""
    from storage import challenger_state, registry
    from storage import redis as redis_store
    from training.dataset import REGISTERED_NAMES

    info: dict[str, list[dict[str, str]]] = {}
    for target, name in REGISTERED_NAMES.items():
        info[target] = []
        for version in registry.challenger_versions(tracking_uri, artifacts, name):
            model = registry.bento_version(name, version)
            if model is None:
                registry.import_version(tracking_uri, artifacts, name, version, registry.CHALLENGER)
                model = registry.bento_version(name, version)
            info[target].append(_info(target, model))
    client = await redis_store.connect(redis_url)
    try:
        await challenger_state.write(client, info)
    finally:
        await client.aclose()
    return info


def promote(
    model: Annotated[str, typer.Argument(help="Registered model, e.g. firstpitch-home-win.")],
    version: Annotated[str, typer.Argument(help="Its registry version, e.g. 3.")],
    challenger: Annotated[
        bool, typer.Option("--challenger", help="Alias it challenger instead of champion.")
    ] = False,
    retire: Annotated[
        bool, typer.Option("--retire", help="Drop its challenger aliases: it stops scoring.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make VERSION of MODEL the champion (or a challenger) without restarting anything."""
    from mlflow.exceptions import MlflowException

    from features.definitions import FEATURE_VERSION
    from firstpitch.runtime import configure_environment, resolve_endpoints
    from firstpitch.settings import Settings
    from storage import registry
    from training.dataset import REGISTERED_NAMES

    target_of = {name: target for target, name in REGISTERED_NAMES.items()}
    if model not in target_of:
        _fail(f"unknown model {model!r}; registered models: {', '.join(target_of)}")
    if not re.fullmatch(r"[1-9][0-9]{0,8}", version):
        _fail(f"a version is a registry version number, e.g. 3, not {version!r}")
    if challenger and retire:
        _fail("give either --challenger or --retire, not both")
    settings = Settings()
    configure_environment(settings)
    uri, artifacts = settings.mlflow_uri, settings.mlflow_artifacts
    alias = registry.CHALLENGER if challenger else registry.CHAMPION
    try:
        tags = registry.run_tags(uri, artifacts, model, version)
    except MlflowException:
        _fail(f"{model} has no version {version} in the MLflow registry")
    if tags.get("feature_version") != FEATURE_VERSION:
        _fail(
            f"{model} version {version} was trained on feature set "
            f"{tags.get('feature_version')}; this code computes {FEATURE_VERSION}"
        )
    endpoints = resolve_endpoints(settings)
    out: dict[str, Any] = {"model": model, "version": version}
    if retire:
        out["retired_aliases"] = registry.retire_challenger(uri, artifacts, model, version)
        if not out["retired_aliases"]:
            _fail(f"{model} version {version} is not a challenger")
        alias = "retired"
    elif challenger:
        out["bento_tag"] = registry.set_challenger(uri, artifacts, model, version)
    else:
        out["bento_tag"] = registry.promote(uri, artifacts, model, version, alias=alias)
        imported = registry.bento_version(model, version)
        out["champions"] = asyncio.run(announce(endpoints.redis_url, target_of[model], imported))
    out["alias"] = alias
    out["challengers"] = asyncio.run(announce_challengers(endpoints.redis_url, uri, artifacts))
    out["adopted_within_s"] = settings.champion_poll_s
    if as_json:
        print(json.dumps(out))
    else:
        console.print(
            f"{model} version {version} is now {alias}"
            f"; API workers adopt it within ~{settings.champion_poll_s} s"
        )
