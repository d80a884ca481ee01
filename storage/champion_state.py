"""Which model versions serve: the champion set that every API worker follows, one Redis key.

``firstpitch promote`` writes it after the registry alias and the BentoML store are updated;
each worker reads it every ``champion_poll_s`` and switches when it changes. A key holds one
JSON document: target -> the model's name, version, tag, feature version, MLflow URI and
creation time (the shape the model service's ``info`` answers).
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

KEY = "fp:models:champions"


async def read(client: aioredis.Redis) -> dict[str, dict[str, str]] | None:
    raw = await client.get(KEY)
    if raw is None:
        return None
    info: dict[str, dict[str, str]] = orjson.loads(raw)
    return info


async def write(client: aioredis.Redis, info: dict[str, dict[str, Any]]) -> None:
    await client.set(KEY, orjson.dumps(info))
