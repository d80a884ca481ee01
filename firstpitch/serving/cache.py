"""Predictions cached in Redis (msgpack, TTL).

Key: ``fp:pred:{home-win model version}:{total-over model version}:{feature version}:{game}``
so a new champion or feature set never serves an old answer. Reads are one MGET per request.
"""

from __future__ import annotations

from typing import Any

import msgpack
import redis.asyncio as aioredis

PREFIX = "fp:pred"


def cache_key(versions: tuple[str, str], feature_version: str, game_id: str) -> str:
    return f"{PREFIX}:{versions[0]}:{versions[1]}:{feature_version}:{game_id}"


class PredictionCache:
    def __init__(self, client: aioredis.Redis, versions: tuple[str, str], feature_version: str):
        self.client = client
        self.versions = versions
        self.feature_version = feature_version

    def key(self, game_id: str) -> str:
        return cache_key(self.versions, self.feature_version, game_id)

    async def get_many(self, game_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {g: entry for g, (entry, _) in (await self.get_many_raw(game_ids)).items()}

    async def get_many_raw(self, game_ids: list[str]) -> dict[str, tuple[dict[str, Any], bytes]]:
        """Each cached game's entry and the msgpack bytes it was read from."""
        if not game_ids:
            return {}
        raws = await self.client.mget([self.key(g) for g in game_ids])
        found = {}
        for g, r in zip(game_ids, raws, strict=True):
            if r is not None:
                raw = r if isinstance(r, bytes) else r.encode()
                found[g] = (msgpack.unpackb(raw, raw=False), raw)
        return found

    async def put_many(self, entries: list[tuple[str, dict[str, Any], int]]) -> None:
        if not entries:
            return
        pipe = self.client.pipeline(transaction=False)
        for game_id, entry, ttl in entries:
            pipe.set(self.key(game_id), msgpack.packb(entry, use_bin_type=True), ex=max(1, ttl))
        await pipe.execute()
