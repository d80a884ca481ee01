"""``firstpitch services up | down | status`` (the embedded servers) and ``firstpitch up``
(services, ingest if empty, train if no champion, materialize)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from firstpitch.cli_common import console, load_settings, run_async

services_app = typer.Typer(help="Embedded PostgreSQL and Redis servers.", no_args_is_help=True)


@services_app.command("up")
def services_up() -> None:
    """Start the embedded servers (those with no configured address) and print addresses."""
    from firstpitch.runtime import resolve_endpoints

    endpoints = resolve_endpoints(load_settings())
    print(json.dumps({"postgres": endpoints.postgres_dsn, "redis": endpoints.redis_url}))


@services_app.command("down")
def services_down() -> None:
    """Stop the embedded servers cleanly (PostgreSQL fast shutdown, Valkey saves first)."""
    from storage.embedded import embedded_servers

    for server in embedded_servers(load_settings().state_dir):
        server.stop()
        console.print(f"{server.name}: stopped")


@services_app.command("status")
def services_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show whether each embedded server runs, and where."""
    from storage.embedded import embedded_servers

    rows = [s.status() for s in embedded_servers(load_settings().state_dir)]
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "running": r.running,
                        "address": r.address,
                        "pid": r.pid,
                        "directory": str(r.directory),
                    }
                    for r in rows
                ]
            )
        )
        return
    for r in rows:
        print(f"{r.name:9} {'running' if r.running else 'stopped':8} {r.address or ''}")


def up() -> None:
    """Services up, ingest if the database is empty, train and promote if there is no
    champion, materialize today's feature vectors."""
    from firstpitch.bootstrap import bring_up
    from firstpitch.runtime import resolve_endpoints

    settings = load_settings()
    endpoints = resolve_endpoints(settings)
    done = run_async(lambda: bring_up(settings, endpoints, console.print))
    print(json.dumps(done))
