"""Ingest failures that name the file, the line and the reason."""

from __future__ import annotations

from pathlib import Path


class IngestError(Exception):
    """A raw file cannot be loaded; nothing of it was written."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{self.path.name}, line {line}" if line is not None else self.path.name
        super().__init__(f"{where}: {reason}")


class DataDirError(Exception):
    """The data directory does not hold the expected raw files."""
