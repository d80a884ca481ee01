"""What the ``firstpitch`` commands share: settings from the environment, the error exit,
the progress bar, the seasons option, and running async work (on a fresh connection)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from firstpitch.settings import Settings

console = Console(stderr=True)


def load_settings(**overrides: Any) -> Settings:
    from firstpitch.runtime import configure_environment

    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    configure_environment(settings)
    return settings


def fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def parse_seasons(text: str) -> set[int]:
    match = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", text)
    if not match:
        raise typer.BadParameter("use YYYY or YYYY-YYYY, e.g. 2010-2021")
    first, last = int(match.group(1)), int(match.group(2) or match.group(1))
    if last < first:
        raise typer.BadParameter("the range must go forward, e.g. 2010-2021")
    return set(range(first, last + 1))


def run_async(coro_factory: Callable[[], Any]) -> Any:
    return asyncio.run(coro_factory())


def with_db(dsn: str, work: Callable[[Any], Any]) -> Any:
    """Run ``await work(conn)`` on a fresh connection, closed afterwards."""
    from storage.postgres import connect

    async def go() -> Any:
        conn = await connect(dsn)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(go())
