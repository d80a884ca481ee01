"""``firstpitch keys``: create, list and revoke API keys (stored hashed in PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
console = Console(stderr=True)


def _on_db(work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``await work(conn)`` against the configured (or embedded) database, migrated."""
    from firstpitch.runtime import resolve_postgres
    from firstpitch.settings import Settings
    from storage.api_keys import ApiKeyError
    from storage.postgres import connect, migrate

    dsn = resolve_postgres(Settings())  # keys live in Postgres only: no Redis is started

    async def go() -> Any:
        conn = await connect(dsn)
        try:
            await migrate(conn)
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(go())
    except ApiKeyError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    scope: Annotated[
        list[str],
        typer.Option(help="predictions, models and/or feed (repeat the option for more than one)."),
    ],
    rate_limit: Annotated[
        int | None,
        typer.Option(
            help="Games per minute; a batch counts each game (default: FIRSTPITCH_RATE_LIMIT_PER_MINUTE)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key and its details.")] = False,
) -> None:
    """Create a key. The key is printed once (stdout) and only its digest is stored."""
    from storage import api_keys

    key, token = _on_db(lambda conn: api_keys.create(conn, name, scope, rate_limit))
    if as_json:
        print(json.dumps(key.public() | {"api_key": token}))
        return
    console.print(
        f"created key {key.key_id} ({key.name}; scopes: {', '.join(sorted(key.scopes))}). "
        "It is shown only now; store it safely:"
    )
    print(token)


@keys_app.command("list")
def list_(
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The keys (ids, names, scopes, limits, dates; never the secrets)."""
    from storage import api_keys

    keys = _on_db(lambda conn: api_keys.list_keys(conn, include_revoked=include_revoked))
    if as_json:
        print(json.dumps([k.public() for k in keys]))
        return
    table = Table("key id", "name", "scopes", "limit/min", "created", "revoked")
    for k in keys:
        table.add_row(k.key_id, k.name, ",".join(sorted(k.scopes)),
                      str(k.rate_limit_per_minute or "default"), f"{k.created_at:%Y-%m-%d %H:%M}",
                      f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")  # fmt: skip
    Console().print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id `keys list` shows.")]) -> None:
    """Revoke a key: every worker refuses it within FIRSTPITCH_AUTH_REFRESH_S seconds."""
    from storage import api_keys

    key = _on_db(lambda conn: api_keys.revoke(conn, key_id))
    print(json.dumps(key.public()))
