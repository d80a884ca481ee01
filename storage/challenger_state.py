"""Which versions score in shadow: the announced challenger set, one Redis key.

``firstpitch promote --challenger`` (and ``--retire``) writes it from the registry's
challenger aliases, after importing each version into the BentoML store; every API worker
reads it with the champion set, every ``champion_poll_s``. The key holds one JSON document:
target -> a list of versions, each described as the champion set describes its models.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

KEY = "fp:models:challengers"


async def read(client: aioredis.Redis) -> dict[str, list[dict[str, str]]]:
    raw = await client.get(KEY)
    if raw is None:
        return {}
    info: dict[str, list[dict[str, str]]] = orjson.loads(raw)
    return info


async def write(client: aioredis.Redis, info: dict[str, list[dict[str, Any]]]) -> None:
    await client.set(KEY, orjson.dumps(info))
