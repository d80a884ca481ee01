"""The shared load-test harness's own logic: alternating peer rounds, percentile shapes,
FAULT lines through pytest's progress dots, and stopping a process tree it started."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from loadtests.harness import fault_lines
from loadtests.harness.processes import Processes
from loadtests.harness.rounds import Peers, interleave, peer_report
from loadtests.harness.stats import percentiles_ms, throughput, with_max
from loadtests.harness.wrk import WrkResult


def test_rounds_alternate_and_report_the_first_over_the_second() -> None:
    order: list[str] = []
    p99 = {"a": iter([10.0, 30.0, 20.0]), "b": iter([5.0, 10.0, 10.0])}

    def measure(name: str) -> WrkResult:
        order.append(name)
        return WrkResult(req_per_s=100.0, p50_ms=1.0, p99_ms=next(p99[name]))

    seen: list[int] = []

    def on_round(r: int, peers: Peers) -> None:
        seen.append(r)

    peers = interleave("a", "b", 3, measure, on_round, pause=0)
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert seen == [1, 2, 3]
    assert peers.ratios == [2.0, 3.0, 2.0]
    report = peer_report(peers, nd=2)
    assert report["a_p99_median"] == 20.0 and report["b_p99_median"] == 10.0
    assert report["p99_ratio_of_medians"] == 2.0
    assert report["p99_ratio_per_round"] == [2.0, 3.0, 2.0]
    assert report["p99_ratio_median"] == 2.0
    assert list(report)[:3] == ["a_p50_median", "a_p99_median", "a_rps_median"]


def test_percentile_shapes() -> None:
    ms = [float(i) for i in range(1, 101)]
    assert percentiles_ms(ms) == {"n": 100, "p50_ms": 50.5, "p99_ms": 99.01}
    assert percentiles_ms(ms, nd=3, count=False) == {"p50_ms": 50.5, "p99_ms": 99.01}
    assert with_max(ms)["max_ms"] == 100.0
    tp = throughput([0.002] * 10, wall_s=0.5, rows=500)
    assert (tp["n"], tp["p50_ms"], tp["mean_ms"]) == (10, 2.0, 2.0)
    assert (tp["req_per_s"], tp["rows_per_s"]) == (20.0, 1000.0)


def test_fault_lines_survive_progress_dots(capsys: pytest.CaptureFixture[str]) -> None:
    fault_lines.emit({"scenario": "x", "requests": 3})
    out = capsys.readouterr().out
    assert fault_lines.collect("..." + out + "noise\n") == [{"scenario": "x", "requests": 3}]


def test_processes_stop_the_whole_tree(tmp_path: Path) -> None:
    procs = Processes()
    proc = procs.start(["sh", "-c", "sleep 60 & sleep 60 & wait"], {"PATH": "/usr/bin:/bin"},
                       tmp_path / "log")  # fmt: skip
    deadline = time.monotonic() + 10
    while len(psutil.Process(proc.pid).children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = [c.pid for c in psutil.Process(proc.pid).children()]
    assert len(children) == 2
    result = procs.stop(proc, grace=5)
    assert result["returncode"] is not None and not procs.procs
    deadline = time.monotonic() + 5  # SIGKILL is delivered, not waited for
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(children)


def _alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            continue
    return out
