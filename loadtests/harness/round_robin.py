"""One address for several replicas: a TCP proxy on 127.0.0.1 handing each new connection
to the next backend port in turn, counting connections per backend."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter


async def round_robin(backends: list[int], hits: Counter[int]) -> tuple[asyncio.Server, int]:
    """One address for the replicas: a TCP proxy handing each new connection to the next."""
    from storage.embedded import free_port

    turn = itertools.count()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = backends[next(turn) % len(backends)]
        hits[port] += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    port = free_port()
    return await asyncio.start_server(handle, "127.0.0.1", port), port
