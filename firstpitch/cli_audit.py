"""``firstpitch audit``: replay a random sample of the prediction log and report every record
whose recomputed answer is not identical to the logged one."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True)


async def run_audit(
    dsn: str, tracking_uri: str, artifacts: Any, since: datetime, sample: int
) -> dict[str, Any]:
    from firstpitch.serving.errors import NotReplayable
    from firstpitch.serving.reproduce import Replayer
    from runners.versions import VersionedBoosters
    from storage import postgres, record_queries

    conn = await postgres.connect(dsn)
    try:
        total, replayable = await record_queries.count_since(conn, since)
        records = await record_queries.sample(conn, since, sample)
    finally:
        await conn.close()
    replayer = Replayer(VersionedBoosters(tracking_uri, artifacts))
    different, failed = [], []
    for record in records:
        try:
            result = await replayer.replay(record)
        except NotReplayable as exc:
            failed.append({"record_id": record["record_id"], "reason": exc.message})
            continue
        if not result["identical"]:
            different.append(
                {k: result[k] for k in ("record_id", "game_id", "models", "differences")}
                | {"logged": result["logged"], "replayed": result["replayed"]}
            )
    return {
        "since": since.isoformat(),
        "records_since": total,
        "replayable_since": replayable,
        "replayed": len(records) - len(failed),
        "identical": len(records) - len(failed) - len(different),
        "different": different,
        "not_replayable": failed,
    }


def audit(
    since: Annotated[str, typer.Option(help="Replay records predicted from this day on (UTC).")],
    sample: Annotated[int, typer.Option(min=1, help="How many records, drawn at random.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Replay a sample of the logged predictions since --since with the model versions and
    betting policy each was made with; exit 1 if any answer differs or cannot be replayed."""
    from firstpitch.runtime import configure_environment, resolve_endpoints
    from firstpitch.settings import Settings

    try:
        day = date.fromisoformat(since)
    except ValueError:
        console.print("[red]error:[/red] --since is a date, YYYY-MM-DD")
        raise typer.Exit(2) from None
    settings = Settings()
    configure_environment(settings)
    endpoints = resolve_endpoints(settings)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    report = asyncio.run(
        run_audit(
            endpoints.postgres_dsn, settings.mlflow_uri, settings.mlflow_artifacts, start, sample
        )
    )
    if as_json:
        print(json.dumps(report))
    else:
        console.print(
            f"{report['replayed']} of {report['replayable_since']} replayable records since "
            f"{day} replayed ({report['records_since']} logged): {report['identical']} "
            f"identical, {len(report['different'])} different, "
            f"{len(report['not_replayable'])} not replayable"
        )
        for d in report["different"]:
            console.print(f"  {d['record_id']} {d['game_id']}: {', '.join(d['differences'])}")
        for f in report["not_replayable"]:
            console.print(f"  {f['record_id']}: {f['reason']}")
    if report["different"] or report["not_replayable"]:
        raise typer.Exit(1)
