"""A locust run's gates: every scenario row of locust_stats.csv (and the aggregate) against
a thresholds file (p50/p95/p99 maxima in ms, failures, minimum requests and req/s, the cache
behaviour expected), the verdict table printed and summary.json written."""

from __future__ import annotations

import csv
import fnmatch
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from loadtests.harness.locust_run import HarnessError


@dataclass
class Row:
    method: str
    name: str
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    p99: float | None
    rps: float


@dataclass
class Verdict:
    row: Row
    limits: dict[str, Any]
    cache: dict[str, int]
    breaches: list[str] = field(default_factory=list)


def _num(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:  # "N/A" when a row has no requests
        return None


def read_stats(path: Path) -> tuple[list[Row], Row]:
    rows, aggregated = [], None
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            row = Row(
                r["Type"],
                r["Name"],
                int(r["Request Count"]),
                int(r["Failure Count"]),
                _num(r["50%"]),
                _num(r["95%"]),
                _num(r["99%"]),
                float(r["Requests/s"]),
            )
            if r["Name"] == "Aggregated":
                aggregated = row
            else:
                rows.append(row)
    if aggregated is None:
        raise HarnessError(f"{path} has no Aggregated row")
    return rows, aggregated


def load_thresholds(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), dict):
        raise HarnessError(f"{path}: expected a mapping with a 'scenarios' section")
    known = {"p50_ms", "p95_ms", "p99_ms", "max_failures", "min_requests", "min_rps", "cache"}
    for name, limits in [
        ("defaults", data.get("defaults") or {}),
        ("aggregate", data.get("aggregate") or {}),
        *data["scenarios"].items(),
    ]:
        unknown = set(limits or {}) - known
        if unknown:
            raise HarnessError(f"{path}: {name}: unknown keys {sorted(unknown)}")
    return data


def limits_for(name: str, thresholds: dict[str, Any]) -> dict[str, Any] | None:
    scenarios: dict[str, Any] = thresholds["scenarios"]
    if name in scenarios:
        own = scenarios[name]
    else:
        key = next((k for k in scenarios if fnmatch.fnmatchcase(name, k)), None)
        if key is None:
            return None
        own = scenarios[key]
    defaults: dict[str, Any] = thresholds.get("defaults") or {}
    return defaults | (own or {})


def check(row: Row, limits: dict[str, Any], cache: dict[str, int]) -> list[str]:
    """What of ``limits`` the row breaches (a row without requests: only min_requests)."""
    out = []
    if row.requests < limits.get("min_requests", 1):
        out.append(f"{row.requests} requests < {limits.get('min_requests', 1)}")
    if not row.requests:
        return out
    if row.failures > limits.get("max_failures", 0):
        out.append(f"{row.failures} failures > {limits.get('max_failures', 0)}")
    for key, value in (("p50_ms", row.p50), ("p95_ms", row.p95), ("p99_ms", row.p99)):
        if key in limits and (value is None or value > limits[key]):
            out.append(f"{key[:3]} {value} ms > {limits[key]} ms")
    if "min_rps" in limits and row.rps < limits["min_rps"]:
        out.append(f"{row.rps:.2f} req/s < {limits['min_rps']}")
    hits, misses = cache.get("hit", 0), cache.get("miss", 0)
    if limits.get("cache") == "miss" and (hits or not misses):
        out.append(
            f"expected cache misses only, {hits} of {hits + misses} were hits (miss "
            "pool used up, or cache not emptied: --redis-url, fewer users, shorter run)"
        )
    if limits.get("cache") == "hit" and (misses or not hits):
        out.append(f"expected cache hits only, {misses} of {hits + misses} were misses")
    return out


def evaluate(
    rows: list[Row], aggregated: Row, cache: dict[str, dict[str, int]], thresholds: dict[str, Any]
) -> list[Verdict]:
    verdicts = []
    for row in rows:
        counts = cache.get(row.name, {"hit": 0, "miss": 0})
        limits = limits_for(row.name, thresholds)
        if limits is None:
            verdicts.append(Verdict(row, {}, counts, [f"no threshold for {row.name!r}"]))
        else:
            verdicts.append(Verdict(row, limits, counts, check(row, limits, counts)))
    seen = {r.name for r in rows}
    for name in thresholds["scenarios"]:  # named scenarios that sent nothing (globs may not)
        if not any(c in name for c in "*?[") and name not in seen:
            missing = Row("", name, 0, 0, None, None, None, 0.0)
            limits = limits_for(name, thresholds) or {}
            counts = {"hit": 0, "miss": 0}
            verdicts.append(Verdict(missing, limits, counts, check(missing, limits, counts)))
    overall = (thresholds.get("defaults") or {}) | (thresholds.get("aggregate") or {})
    overall.pop("cache", None)
    verdicts.append(
        Verdict(aggregated, overall, {"hit": 0, "miss": 0}, check(aggregated, overall, {}))
    )
    return verdicts


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _limits_text(limits: dict[str, Any]) -> str:
    parts = [f"{k[:3]}<={limits[k]}" for k in ("p50_ms", "p95_ms", "p99_ms") if k in limits]
    if "min_rps" in limits:
        parts.append(f"rps>={limits['min_rps']}")
    parts.append(f"fail<={limits.get('max_failures', 0)}")
    if limits.get("cache"):
        parts.append(f"cache={limits['cache']}")
    return " ".join(parts)


def render(verdicts: list[Verdict]) -> str:
    head = (
        "scenario",
        "requests",
        "failures",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "req/s",
        "cache hit/miss",
        "threshold",
        "verdict",
    )
    lines = [
        (
            v.row.name if v.row.name != "Aggregated" else "ALL (aggregated)",
            str(v.row.requests),
            str(v.row.failures),
            _ms(v.row.p50),
            _ms(v.row.p95),
            _ms(v.row.p99),
            f"{v.row.rps:.1f}",
            f"{v.cache['hit']}/{v.cache['miss']}",
            _limits_text(v.limits),
            "BREACH" if v.breaches else "PASS",
        )
        for v in verdicts
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=True)]
    numeric = {1, 2, 3, 4, 5, 6, 7}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    table = [fmt(head), "  ".join("-" * w for w in widths), *map(fmt, lines)]
    for v in verdicts:
        table += [f"BREACH {v.row.name}: {b}" for b in v.breaches]
    return "\n".join(table)


def verdict_report(out: Path, thresholds_path: Path, meta: dict[str, Any] | None = None) -> int:
    rows, aggregated = read_stats(out / "locust_stats.csv")
    cache_file = out / "cache.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    verdicts = evaluate(rows, aggregated, cache, load_thresholds(thresholds_path))
    print()
    print(render(verdicts))
    failures = out / "locust_failures.csv"
    if failures.exists():
        with failures.open(newline="") as f:
            for r in list(csv.DictReader(f))[:10]:
                print(f"failure x{r['Occurrences']} {r['Method']} {r['Name']}: {r['Error']}")
    breached = [v for v in verdicts if v.breaches]
    if meta is not None:
        summary = meta | {
            "thresholds": str(thresholds_path),
            "passed": not breached,
            "scenarios": [asdict(v) for v in verdicts],
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"\n{'BREACH' if breached else 'PASS'}: {len(verdicts) - len(breached)} of "
        f"{len(verdicts)} checks passed; reports in {out}"
    )
    return 1 if breached else 0
