"""The API worker's side of the prediction log's writer process (``log_writer.py``).

Building, encoding and writing a 50-game batch's records costs the worker ~0.4 ms of its one
core; handing them over costs one pickled frame and one ``sendmsg``: each game's cache hit as
the msgpack bytes the cache holds it in, each computed game as the tuple of values its record
takes (``shaping.RECORD_FIELDS``), and the request's shared fields once. (Pickle is safe
here: the socket is a ``socketpair`` between this process and its own child.)

Bounds, and what happens at them:

* The kernel's socket buffer (``SOCKET_BUFFER`` bytes) holds what the writer has not read
  yet. It is the writer's, not the worker's: a worker that dies (SIGKILL, OOM) loses none of
  it, since the writer still reads it to the end.
* In the worker only the unsent tail of one frame can wait (``_tail``, one request, at most
  50 records): a crash of the worker loses at most that.
* A frame that finds the socket full, or the writer gone, is not sent: ``send`` answers
  False and the caller logs the records in process (``PredictionLogger``: its own bounded
  queue, then the spill). So a slow or dead writer costs speed, never records; a lost
  writer is replaced ``RESTART_S`` later, at the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import operator
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgpack

from firstpitch.serving import log_writer
from firstpitch.serving.shaping import RECORD_FIELDS
from firstpitch.settings import Settings
from storage.prediction_log import PredictionLogger

log = logging.getLogger(__name__)
SOCKET_BUFFER = 1 << 20  # Linux doubles it: ~2,000 computed games' records
RESTART_S = 5.0  # a lost writer is replaced this long after (its worker logs meanwhile)
CLOSE_WAIT_S = 60.0  # the writer drains its queue to PostgreSQL, else the spill
_record_fields = operator.itemgetter(*RECORD_FIELDS)


class LogRelay:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._tail = b""  # the unsent end of the last frame
        self._counters = msgpack.Unpacker()
        self.sent = 0  # records
        # the writer's last report: received, queue depth, queued bytes, written, spilled,
        # shadow records it scored, games whose challengers it could not score
        self.received = self.depth = self.queued_bytes = self.written = self.spilled = 0
        self.shadow_scored = self.shadow_failed = 0
        self._closing = False
        self._restart_at = 0.0

    @property
    def alive(self) -> bool:
        return self._sock is not None

    @property
    def in_socket(self) -> int:
        """Records handed over and not yet read by the writer (as of its last report)."""
        return self.sent - self.received

    def report(self) -> dict[str, Any]:
        pid = self.proc.pid if self.proc is not None else None
        return {"alive": self.alive, "pid": pid, "queue_depth": self.depth,
                "in_socket": self.in_socket, "written": self.written,
                "spilled": self.spilled, "shadow_scored": self.shadow_scored,
                "shadow_failed": self.shadow_failed}  # fmt: skip

    def start(self) -> None:
        self.sent = self.received = self.depth = self.queued_bytes = 0
        self.shadow_scored = self.shadow_failed = 0
        self._counters = msgpack.Unpacker()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for option in (getattr(socket, "SO_SNDBUFFORCE", 32), socket.SO_SNDBUF):
            with contextlib.suppress(OSError):  # FORCE needs CAP_NET_ADMIN; else the cap
                ours.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
                break
        # the project's root on the path, whatever the worker's directory (a Bento's, say)
        root = str(Path(log_writer.__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        env = os.environ | {log_writer.CONFIG_ENV: json.dumps(self.config), "PYTHONPATH": path}
        cmd = [sys.executable, "-m", "firstpitch.serving.log_writer", "--fd", str(theirs.fileno())]
        self.proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], env=env)
        theirs.close()
        ours.setblocking(False)
        self._sock = ours
        asyncio.get_running_loop().add_reader(ours.fileno(), self._read)
        log.info("prediction log writer process %d started", self.proc.pid)

    @property
    def scores_challengers(self) -> bool:
        """Whether the writer scores the challengers of the frames that name them."""
        return self.alive and bool(self.config.get("mlflow_uri"))

    def send(self, base: dict[str, Any], latency_ms: float, games: Sequence[bytes | tuple[Any, ...]],
             hits: Sequence[bool], challengers: tuple[Any, ...] = ()) -> bool:  # fmt: skip
        """Hand a request's records to the writer (``log_writer.frame`` tells the form), with
        the ``challengers`` it is to score their computed games by; False if they were not:
        log them here (and score the challengers here)."""
        sock = self._sock
        if sock is None or self._tail:
            return False
        head, payload = log_writer.frame(base, latency_ms, games, hits, challengers)
        try:
            sent = sock.sendmsg([head, payload])  # gathered: the payload is not copied
        except BlockingIOError:
            return False
        except OSError:
            self._lost("its socket failed")
            return False
        if sent < len(payload) + 4:  # the rest goes as soon as the socket has room
            self._tail = (head + payload)[sent:]
            asyncio.get_running_loop().add_writer(sock.fileno(), self._send_tail)
        self.sent += len(games)
        return True

    def _send_tail(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sent = sock.send(self._tail)
        except BlockingIOError:
            return
        except OSError:
            self._lost("its socket failed")
            return
        self._tail = self._tail[sent:]
        if not self._tail:
            asyncio.get_running_loop().remove_writer(sock.fileno())

    def _read(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost("it exited")
            return
        self._counters.feed(data)
        for counters in self._counters:
            (
                self.received,
                self.depth,
                self.queued_bytes,
                self.written,
                self.spilled,
                self.shadow_scored,
                self.shadow_failed,
            ) = counters

    def _lost(self, why: str) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        self._tail = b""  # the frame it was getting went with it
        self._restart_at = time.monotonic() + RESTART_S
        if not self._closing:
            log.error("prediction log writer process lost (%s): logging in process", why)
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock.fileno())
        loop.remove_writer(sock.fileno())
        sock.close()

    def revive(self) -> None:
        """Start a new writer, ``RESTART_S`` after the last one was lost (not at shutdown)."""
        if self._sock is not None or self._closing or time.monotonic() < self._restart_at:
            return
        if self.proc is not None:
            self.proc.poll()  # the lost one is reaped
        self._restart_at = time.monotonic() + RESTART_S
        try:
            self.start()
        except OSError:
            log.exception("prediction log writer process not restarted; logging in process")

    async def close(self) -> None:
        """Send what is left, end the socket, and wait for the writer to drain and exit."""
        self._closing = True
        sock = self._sock
        if sock is not None:
            for _ in range(int(CLOSE_WAIT_S * 100)):
                if not self._tail:
                    break
                await asyncio.sleep(0.01)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)  # the writer reads to the end, then stops
            asyncio.get_running_loop().remove_writer(sock.fileno())
        if self.proc is not None:
            try:
                await asyncio.to_thread(self.proc.wait, CLOSE_WAIT_S)
            except subprocess.TimeoutExpired:
                log.error("prediction log writer %d did not stop; killing it", self.proc.pid)
                self.proc.kill()
        self._read()  # its last report
        self._lost("closed")


def logger_bounds(settings: Settings) -> dict[str, Any]:
    """A ``PredictionLogger``'s batches and caps, the worker's and its writer's alike."""
    return {
        "batch_size": settings.log_batch_size,
        "flush_interval": settings.log_flush_ms / 1000,
        "max_records": settings.log_queue_records,
        "max_bytes": settings.log_queue_bytes,
        "max_spill_bytes": settings.log_spill_max_bytes,
    }


def writer_config(settings: Settings, dsn: str, challengers: bool = False) -> dict[str, Any]:
    """What the writer process needs: where to write, the same bounds as the worker's, and
    (``challengers``: the models run in the API process) where to load challengers from."""
    models = {"mlflow_uri": settings.mlflow_uri,
              "mlflow_artifacts": str(settings.mlflow_artifacts)} if challengers else {}  # fmt: skip
    return models | {
        "dsn": dsn,
        "connect_timeout_s": settings.postgres_timeout_ms / 1000,
        "spill_dir": str(settings.spill_path),
        "nice": settings.log_writer_nice,
        "logger": logger_bounds(settings),
    }


def hand_over(
    relay: LogRelay | None,
    logger: PredictionLogger,
    base: dict[str, Any],
    latency_ms: float,
    game_ids: list[str],
    entries: dict[str, dict[str, Any]],
    hits: dict[str, dict[str, Any]],
    raws: dict[str, bytes],
    challengers: tuple[Any, ...] = (),
) -> bool:
    """Send a request's served records to the writer process: each game as the cached bytes
    it was served from (``raws``, for the cache hits), else as the values its record takes;
    with the ``challengers`` the writer is to score the computed games by (see
    ``LogRelay.scores_challengers``). False: log them here (and score the challengers here).
    Raises LogFull (nothing recorded) when the spill is at its limit."""
    if relay is None:
        return False
    if not relay.alive:
        relay.revive()
        if not relay.alive:
            return False
    logger.check_room()
    try:
        games = [raws[g] if g in hits else _record_fields(entries[g]) for g in game_ids]
    except KeyError:  # an answer of another shape: the in-process path takes it
        return False
    return relay.send(base, latency_ms, games, [g in hits for g in game_ids], challengers)


def log_depth(logger: PredictionLogger, relay: LogRelay | None) -> int:
    """Records queued in memory for PostgreSQL: the worker's queue and the writer
    process's (what waits in the socket between them is ``LogRelay.in_socket``)."""
    return logger.depth + (relay.depth if relay is not None and relay.alive else 0)
