"""One measurement of one server in one scenario, as the report's row, and the report's
tables (wrk's corrected latencies; the exact 1-connection ones beside them)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loadtests.harness.wrk import WrkResult


@dataclass
class Measurement:
    target: str  # firstpitch | mlserver | mlflow
    config: str
    scenario: str
    connections: int
    rows: int
    what: str  # "full path" or "raw inference"
    wrk: WrkResult
    server_cpu_s: float
    wall_s: float
    client_cpu_s: float = 0.0

    @property
    def server_cpu_pct(self) -> float:
        return 100.0 * self.server_cpu_s / self.wall_s if self.wall_s > 0 else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "config": self.config,
            "scenario": self.scenario,
            "connections": self.connections,
            "rows_per_request": self.rows,
            "what": self.what,
            "req_per_s": round(self.wrk.req_per_s, 1),
            "rows_per_s": round(self.wrk.req_per_s * self.rows, 1),
            "p50_ms": _r(self.wrk.p50_ms),
            "p90_ms": _r(self.wrk.p90_ms),
            "p99_ms": _r(self.wrk.p99_ms),
            "p999_ms": _r(self.wrk.p999_ms),
            "max_ms": _r(self.wrk.max_ms),
            "errors": self.wrk.errors,
            "wrk_corrected_over_100ms_pct": round(100 * self.wrk.slow100_frac, 3),
            "raw": None
            if not self.wrk.raw_n
            else {
                "n": self.wrk.raw_n,
                "p50_ms": _r(self.wrk.raw_p50_ms, 3),
                "p90_ms": _r(self.wrk.raw_p90_ms, 3),
                "p99_ms": _r(self.wrk.raw_p99_ms, 3),
                "p999_ms": _r(self.wrk.raw_p999_ms, 3),
                "max_ms": _r(self.wrk.raw_max_ms, 3),
                "over_100ms": self.wrk.raw_slow100,
            },
            "server_cpu_pct": round(self.server_cpu_pct, 1),
            "server_cpu_s": round(self.server_cpu_s, 3),
            "wrk_cpu_pct": round(100 * self.client_cpu_s / self.wall_s, 1) if self.wall_s else None,
            "wall_s": round(self.wall_s, 3),
            "wrk": self.wrk.as_dict(),
        }


def _r(value: float, nd: int = 2) -> float | None:
    return None if math.isnan(value) else round(value, nd)


def fmt(value: float | None, nd: int = 2) -> str:
    return (
        "–"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{nd}f}"
    )


TABLE_HEADER = (
    "| target | config | scenario | req/s | rows/s | p50 ms | p90 ms | p99 ms | errors | "
    "server CPU % |"
)


def render_table(rows: Iterable[dict[str, Any]]) -> str:
    """The side-by-side table; latencies are wrk's (coordinated-omission corrected)."""
    ncols = TABLE_HEADER.count("|") - 1
    lines = [TABLE_HEADER, "|" + "---|" * ncols]
    for r in rows:
        lines.append(
            f"| {r['target']} | {r['config']} | {r['scenario']} | {fmt(r['req_per_s'], 1)} | "
            f"{fmt(r['rows_per_s'], 0)} | {fmt(r['p50_ms'])} | {fmt(r['p90_ms'])} | "
            f"{fmt(r['p99_ms'])} | {r['errors']} | {fmt(r['server_cpu_pct'], 0)} |"
        )
    return "\n".join(lines)


RAW_HEADER = (
    "| target | config | scenario | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | "
    "≥ 100 ms | wrk p99 ms |"
)


def render_raw_table(rows: Iterable[dict[str, Any]]) -> str:
    """Exact per-request latencies of the 1-connection runs, next to wrk's corrected p99."""
    ncols = RAW_HEADER.count("|") - 1
    lines = [RAW_HEADER, "|" + "---|" * ncols]
    for r in rows:
        raw = r.get("raw")
        if not raw:
            continue
        lines.append(
            f"| {r['target']} | {r['config']} | {r['scenario']} | {raw['n']} | "
            f"{fmt(raw['p50_ms'])} | {fmt(raw['p90_ms'])} | {fmt(raw['p99_ms'])} | "
            f"{fmt(raw['p999_ms'])} | {fmt(raw['max_ms'])} | {raw['over_100ms']} | "
            f"{fmt(r['p99_ms'])} |"
        )
    return "\n".join(lines)
