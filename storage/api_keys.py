"""API keys in PostgreSQL: created, listed and revoked; only digests are stored.

A key reads ``fpk_<key id>_<secret>``: the 12-hex key id names the row (and is safe to show
in lists and logs), the 43-character secret is random (256 bits) and only its SHA-256
digest is kept. High-entropy random secrets need no slow hash: nothing is guessable.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.postgres import Conn

SCOPES = ("predictions", "models", "feed")
CHANNEL = "fp_api_keys"  # migration 0005 announces every change to a key here (its key id)
PREFIX = "fpk_"
KEY_PATTERN = re.compile(r"^fpk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class ApiKeyError(ValueError):
    """A key operation that cannot be done (unknown id, bad scope, ...)."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[str]
    rate_limit_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None
    secret_sha256: bytes = b""

    def public(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    match = KEY_PATTERN.match(token)
    return (match.group(1), match.group(2)) if match else None


def _row(r: Any) -> ApiKey:
    return ApiKey(
        key_id=r["key_id"],
        name=r["name"],
        scopes=frozenset(r["scopes"]),
        rate_limit_per_minute=r["rate_limit_per_minute"],
        created_at=r["created_at"],
        revoked_at=r["revoked_at"],
        secret_sha256=bytes(r["secret_sha256"]),
    )


async def create(
    conn: Conn, name: str, scopes: list[str], rate_limit_per_minute: int | None = None
) -> tuple[ApiKey, str]:
    """Store a new key; returns it and the full key text (shown once, never stored)."""
    if not name.strip():
        raise ApiKeyError("a key needs a name")
    if not scopes:
        raise ApiKeyError(f"a key needs at least one scope ({', '.join(SCOPES)})")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ApiKeyError(f"unknown scope {', '.join(unknown)}; scopes: {', '.join(SCOPES)}")
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise ApiKeyError("the rate limit must be at least 1 request per minute")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = await conn.fetchrow(
        "INSERT INTO api_keys (key_id, name, secret_sha256, scopes, rate_limit_per_minute) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING *",
        key_id,
        name.strip(),
        digest(secret),
        sorted(set(scopes)),
        rate_limit_per_minute,
    )
    return _row(row), f"{PREFIX}{key_id}_{secret}"


async def list_keys(conn: Conn, *, include_revoked: bool = True) -> list[ApiKey]:
    rows = await conn.fetch(
        "SELECT * FROM api_keys WHERE $1 OR revoked_at IS NULL ORDER BY created_at, key_id",
        include_revoked,
    )
    return [_row(r) for r in rows]


async def active(conn: Conn) -> dict[str, ApiKey]:
    return {k.key_id: k for k in await list_keys(conn, include_revoked=False)}


async def get_active(conn: Conn, key_id: str) -> ApiKey | None:
    row = await conn.fetchrow(
        "SELECT * FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL", key_id
    )
    return _row(row) if row is not None else None


async def revoke(conn: Conn, key_id: str) -> ApiKey:
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 "
        "RETURNING *",
        key_id,
    )
    if row is None:
        raise ApiKeyError(f"no API key {key_id!r}; `firstpitch keys list` shows the key ids")
    return _row(row)


async def listen(conn: Any, on_change: Callable[[str], None]) -> None:
    """Call ``on_change(key_id)`` whenever a key is created, changed or revoked (``conn``: a
    connection of its own, held open for as long as the changes are followed)."""
    await conn.add_listener(CHANNEL, lambda _conn, _pid, _channel, key_id: on_change(key_id))
