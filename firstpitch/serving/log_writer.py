"""The prediction log's writer process: builds, encodes and writes the records of served
batches, on a core of its own, so the API worker only hands the served values over.

``log_relay.py`` starts it with one end of a Unix stream socket. Down that socket come
frames (``log_lines.records`` tells their form): a request's shared record fields, and each game's
answer. The writer turns each frame straight into the COPY lines the API worker's records
would encode to (``log_lines.frame_lines``; ``log_lines.records`` is what they must equal),
and hands them to a ``PredictionLogger`` of its own: bounded queue, COPY, spill, replay. A
frame that names challengers has its computed games scored by them here, and their shadow
records queued after the served ones (``writer_shadows.py``). Up
the socket, every ``REPORT_S``, go its counters, which the worker shows as its log gauges.

It stops when the socket ends, which happens when the API worker closes it or dies (SIGKILL
included): what reached the socket is still read, logged, and written or spilled. SIGTERM and
SIGINT (a whole process group stopped at once) only start a deadline: the worker's close, or
its death, still ends the socket first. At the deadline the writer ends the socket for reading
(the worker then logs in process) and queues the whole frames still in it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgpack

from firstpitch.serving.log_lines import frame_lines
from firstpitch.serving.writer_shadows import WriterShadows
from storage import postgres
from storage.prediction_log import LogFull, PredictionLogger

log = logging.getLogger("firstpitch.log_writer")
REPORT_S = 0.25
# Between short reads: the socket holds ~2 MB (``log_relay.SOCKET_BUFFER``), ~100 ms of the
# heaviest traffic measured (50-game batches at ~400 a second), so 10 ms fills a tenth of it.
PACE_S = 0.01
CONFIG_ENV = "FIRSTPITCH_LOG_WRITER_CONFIG"  # JSON: dsn, spill_dir, queue bounds
READ_BYTES = 1 << 20
MAX_FRAME = 64 << 20  # a batch's frame is ~50 KB
STOP_AFTER_SIGNAL_S = 30.0  # a signalled writer whose worker never closes the socket
DRAIN_S = 5.0  # then, at most this long to queue the frames left in the socket
APPLICATION_NAME = "firstpitch-log-writer"  # its connections, in pg_stat_activity
# Frames that name challengers wait up to SHADOW_WAIT_S (or until SHADOW_GAMES computed games
# wait) so that one booster call a version, and one queueing, serves the frames of several
# reads: at one connection a read holds ~7 frames, a window ~40. Only shadow records wait:
# a crash loses at most a window of them, never a served record.
SHADOW_WAIT_S = 0.05
SHADOW_GAMES = 256
KNOWN_SETS = 16  # challenger sets a writer keeps decoded


def frame(base: dict[str, Any], latency_ms: float, games: Sequence[bytes | tuple[Any, ...]],
          hits: Sequence[bool], challengers: tuple[Any, ...] = ()) -> tuple[bytes, bytes]:  # fmt: skip
    """A request's frame as (its 4-byte length, its pickle), for ``socket.sendmsg``; with
    ``challengers`` (``shadow.Challenger``), the writer scores its computed games by them.
    They go as their own pickle, made once while the worker names the same tuple: pickling
    dataclasses took ~11 µs of a request in the worker, copying bytes takes well under 1."""
    body = (base, latency_ms, games, hits, *((_named(challengers),) if challengers else ()))
    payload = pickle.dumps(body, protocol=5)
    return len(payload).to_bytes(4, "little"), payload


# the challengers last framed (held, so that their id cannot be another tuple's), and their pickle
_NAMED: dict[int, tuple[tuple[Any, ...], bytes]] = {}


def _named(challengers: tuple[Any, ...]) -> bytes:
    """The pickle of ``challengers``, made again only when another tuple comes."""
    held = _NAMED.get(id(challengers))
    if held is None:
        _NAMED.clear()
        held = _NAMED[id(challengers)] = (challengers, pickle.dumps(challengers, protocol=5))
    return held[1]


def challengers_of(named: bytes, known: dict[bytes, tuple[Any, ...]]) -> tuple[Any, ...]:
    """A frame's challengers from their pickle, through ``known`` (a writer sees few sets:
    one a champion and challenger set the worker served by)."""
    found = known.get(named)
    if found is None:
        if len(known) >= KNOWN_SETS:
            known.clear()
        found = known[named] = pickle.loads(named)
    return found


def frames(buf: bytearray) -> list[tuple[Any, ...]]:
    """The whole frames at the head of ``buf`` (each a 4-byte length, then a pickle), taken
    out of it; a partial frame stays for the next read."""
    found = []
    while len(buf) >= 4:
        size = int.from_bytes(buf[:4], "little")
        if size > MAX_FRAME:
            raise ValueError(f"a frame of {size} bytes: the stream is corrupt")
        if len(buf) < 4 + size:
            break
        found.append(pickle.loads(buf[4 : 4 + size]))
        del buf[: 4 + size]
    return found


class Writer:
    def __init__(
        self, sock: socket.socket, logger: PredictionLogger, shadows: WriterShadows | None = None
    ) -> None:
        self.sock, self.logger, self.shadows = sock, logger, shadows
        self.received = 0  # served records (what the worker counts as sent)
        self.buf = bytearray()
        self._shadowed: list[tuple[tuple[Any, ...], Any]] = []  # frames for their challengers
        self._shadowed_games = 0
        self._known: dict[bytes, tuple[Any, ...]] = {}  # challenger sets, by their pickle
        self._window: asyncio.TimerHandle | None = None
        self._scoring: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reporter = asyncio.create_task(self._report())
        try:
            while data := await loop.sock_recv(self.sock, READ_BYTES):
                self.buf += data
                await self._read(frames(self.buf))
                # sock_recv returns at once while data waits, without yielding: a writer
                # behind its worker would otherwise never let its COPYs and reports run.
                # After a short read it waits a little, so that the next read takes several
                # frames at once (one wake-up, one queueing, one booster call a challenger
                # for all of them) rather than one a request.
                await asyncio.sleep(0 if len(data) >= READ_BYTES else PACE_S)
            await self._score_shadowed()  # the worker closed: what waits goes before the log
            if self._scoring:
                await asyncio.wait(self._scoring)
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter

    async def drain(self, within_s: float) -> bool:
        """Stopped before the worker closed its end: end the socket for reading, so that
        the worker's next send fails and it logs what it serves from then on itself, and
        queue the served records of the whole frames already in it (a frame cut short,
        still being sent, is lost with the socket; their challengers are not scored).
        Within ``within_s``: with PostgreSQL down and the spill full, queueing would wait
        for ever; then they are lost (False), logged."""
        try:
            await asyncio.wait_for(self._drain(), within_s)
            return True
        except TimeoutError:
            log.error("prediction log writer: the frames left in its socket could not be queued")
            return False

    async def _drain(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)
        while True:
            try:
                data = self.sock.recv(READ_BYTES)
            except OSError:  # nothing more (or no socket any more)
                break
            if not data:
                break
            self.buf += data
        self.shadows = None
        await self._read(frames(self.buf))

    async def _read(self, found: list[tuple[Any, ...]]) -> None:
        """Queue the served records of a read's frames; their challengers' records follow
        within ``SHADOW_WAIT_S``."""
        vectors = self.logger.vectors
        lines = [line for frame in found for line in frame_lines(frame[:4], vectors)]
        await self._log(lines)
        if self.shadows is None:
            return
        for f in found:
            if len(f) > 4:
                self._shadowed.append((f[:4], challengers_of(f[4], self._known)))
                self._shadowed_games += len(f[2])
        if self._shadowed_games >= SHADOW_GAMES:
            await self._score_shadowed()
        elif self._shadowed and self._window is None:
            self._window = asyncio.get_running_loop().call_later(SHADOW_WAIT_S, self._window_ends)

    def _window_ends(self) -> None:
        self._window = None
        task = asyncio.get_running_loop().create_task(self._score_shadowed())
        self._scoring.add(task)
        task.add_done_callback(self._scoring.discard)

    async def _score_shadowed(self) -> None:
        """Score the frames waiting for their challengers (each version's booster once) and
        queue their shadow records."""
        if self._window is not None:
            self._window.cancel()
            self._window = None
        taken, self._shadowed, self._shadowed_games = self._shadowed, [], 0
        if taken and self.shadows is not None:
            shadowed = await self.shadows.lines_many(taken, self.logger.vectors)
            if shadowed:
                await self._log(shadowed, served=False)

    async def _log(self, batch: list[bytes], served: bool = True) -> None:
        """Queue (or spill) the records; while even the spill is full, stop reading, so the
        worker's socket fills and it answers 503 instead of serving unrecorded."""
        while True:
            try:
                self.logger.queue_lines(batch)
            except LogFull:
                log.warning("prediction log spill is full; waiting for PostgreSQL")
                await asyncio.sleep(self.logger.retry_interval)
                continue
            self.received += len(batch) if served else 0
            return

    def counters(self) -> list[int]:
        stats, shadows = self.logger.stats, self.shadows
        scored, failed = (shadows.scored, shadows.failed) if shadows is not None else (0, 0)
        return [self.received, self.logger.depth, self.logger.queued_bytes, stats.written,
                stats.spilled, scored, failed]  # fmt: skip

    async def _report(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(OSError):  # the worker is gone: the socket's end is near
                await loop.sock_sendall(self.sock, msgpack.packb(self.counters()))
            await asyncio.sleep(REPORT_S)


async def main(fd: int, config: dict[str, Any]) -> None:
    # Below the API worker's priority: where the two contend for a core, requests go first
    # (a writer that then lags fills its bounded queue, and the spill, not memory).
    os.nice(config.get("nice", 0))
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    pool = await postgres.create_pool(config["dsn"], min_size=1, max_size=4,
                                      connect_timeout=config["connect_timeout_s"],
                                      init=postgres.share_priority,
                                      name=APPLICATION_NAME)  # fmt: skip
    logger = PredictionLogger(pool, Path(config["spill_dir"]), **config["logger"])
    logger.start()
    shadows = None
    if config.get("mlflow_uri"):  # where the models run in the API process
        shadows = WriterShadows(config["mlflow_uri"], Path(config["mlflow_artifacts"]))
    writer = Writer(sock, logger, shadows)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: loop.call_later(STOP_AFTER_SIGNAL_S, _cancel, task))
    try:
        await writer.run()
    except asyncio.CancelledError:
        log.warning("prediction log writer: stopping on a signal before its worker closed")
        await writer.drain(DRAIN_S)
    finally:
        await logger.close()  # the queue goes to PostgreSQL, else the spill
        with contextlib.suppress(OSError):
            await loop.sock_sendall(sock, msgpack.packb(writer.counters()))
        sock.close()
        try:
            await asyncio.wait_for(pool.close(), 5)
        except TimeoutError:  # a connection still busy (PostgreSQL stalled)
            pool.terminate()


def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="the socket from the API worker")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # in the environment, not the arguments: the DSN may hold a password
    asyncio.run(main(args.fd, json.loads(os.environ.pop(CONFIG_ENV))))


if __name__ == "__main__":
    cli()
