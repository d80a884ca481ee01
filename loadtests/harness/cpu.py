"""CPU seconds of a server's process tree (user + system), sampled around a measurement."""

from __future__ import annotations

from pathlib import Path

import psutil


def _tree(root_pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(root_pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu(root_pid: int) -> dict[tuple[int, float], float]:
    """(pid, create_time) -> CPU seconds (user + system) of every live process in the tree."""
    out: dict[tuple[int, float], float] = {}
    for proc in _tree(root_pid):
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                out[(proc.pid, proc.create_time())] = times.user + times.system
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return out


def cpu_delta(
    before: dict[tuple[int, float], float], after: dict[tuple[int, float], float]
) -> float:
    """CPU seconds spent between two ``tree_cpu`` samples (processes born in between count
    fully; processes that died in between are lost, which the servers here do not do)."""
    return sum(cpu - before.get(key, 0.0) for key, cpu in after.items())


def tree_pids(root_pid: int) -> list[int]:
    return [p.pid for p in _tree(root_pid)]


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process) since boot."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0))


def server_pid(state_dir: Path, name: str) -> int | None:
    """The pid of the embedded server ``name`` ("postgres", "redis") under ``state_dir``, if
    it runs (a configured server elsewhere has none here)."""
    from storage.embedded import embedded_servers

    for server in embedded_servers(state_dir):
        if server.name == name:
            return server.status().pid
    return None
