"""wrk as the load driver: one run (``run_wrk``) with the script of ``wrk_script.py``, and
its output parsed (``parse_wrk``: wrk's text, overridden by the script's WRKJSON line)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WRK = shutil.which("wrk") or "/usr/bin/wrk"

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def duration_ms(text: str) -> float:
    """wrk's formatted time ("512.00us", "1.23ms", "2.00s", "1.50m") in milliseconds."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*(us|ms|s|m|h)\s*", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


@dataclass
class WrkResult:
    requests: int = 0
    duration_s: float = 0.0
    req_per_s: float = 0.0
    p50_ms: float = math.nan
    p75_ms: float = math.nan
    p90_ms: float = math.nan
    p99_ms: float = math.nan
    p999_ms: float = math.nan
    mean_ms: float = math.nan
    max_ms: float = math.nan
    socket_errors: dict[str, int] = field(default_factory=dict)
    non_2xx_3xx: int = 0
    non_200: int = 0
    slow100_frac: float = 0.0  # share of wrk's (corrected) histogram at >= 100 ms
    first_bad: str = ""
    lua_summary: bool = False
    # exact per-request latencies (1 connection only; wrk's histogram is CO-corrected)
    raw_n: int = 0
    raw_slow100: int = 0
    raw_p50_ms: float = math.nan
    raw_p90_ms: float = math.nan
    raw_p99_ms: float = math.nan
    raw_p999_ms: float = math.nan
    raw_max_ms: float = math.nan

    @property
    def errors(self) -> int:
        """Non-2xx/3xx answers (or non-200 counted by the Lua script, whichever is larger)
        plus socket errors (connect, read, write, timeout)."""
        return max(self.non_2xx_3xx, self.non_200) + sum(self.socket_errors.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["errors"] = self.errors
        return out


def _apply_lua_summary(res: WrkResult, data: dict[str, Any]) -> None:
    res.lua_summary = True
    res.requests = int(data["requests"])
    res.duration_s = data["duration_us"] / 1e6
    if res.duration_s > 0:
        res.req_per_s = res.requests / res.duration_s
    res.non_200 = int(data["non200"])
    res.non_2xx_3xx = max(res.non_2xx_3xx, int(data["status"]))
    res.socket_errors = {k: int(data[k]) for k in ("connect", "read", "write", "timeout")}
    for key in ("p50", "p90", "p99", "p999", "max"):
        setattr(res, f"{key}_ms", data[f"{key}_us"] / 1000)
    res.mean_ms = data["mean_us"] / 1000
    res.slow100_frac = float(data["slow100_frac"])
    res.first_bad = str(data["first_bad"])
    res.raw_n = int(data.get("raw_n", 0))
    res.raw_slow100 = int(data.get("raw_slow100", 0))
    if res.raw_n:
        for key in ("p50", "p90", "p99", "p999", "max"):
            setattr(res, f"raw_{key}_ms", data[f"raw_{key}_us"] / 1000)


def parse_wrk(text: str) -> WrkResult:
    """Parse ``wrk --latency`` output (and the WRKJSON line of our Lua script, if present;
    its µs-precision numbers win over the 2-decimal text)."""
    res = WrkResult()
    dist = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", text, flags=re.M))
    for pct, attr in (("50", "p50_ms"), ("75", "p75_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        if pct in dist:
            setattr(res, attr, duration_ms(dist[pct]))
    if m := re.search(r"^\s+Latency\s+(\S+)\s+\S+\s+(\S+)\s+", text, flags=re.M):
        res.mean_ms, res.max_ms = duration_ms(m.group(1)), duration_ms(m.group(2))
    if m := re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m|h)", text):
        res.requests = int(m.group(1))
        res.duration_s = duration_ms(m.group(2) + m.group(3)) / 1000
    if m := re.search(r"Requests/sec:\s+([0-9.]+)", text):
        res.req_per_s = float(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    ):
        res.socket_errors = dict(
            zip(("connect", "read", "write", "timeout"), map(int, m.groups()), strict=True)
        )
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        res.non_2xx_3xx = int(m.group(1))
    if m := re.search(r"^WRKJSON (\{.*\})\s*$", text, flags=re.M):
        _apply_lua_summary(res, json.loads(m.group(1)))
    return res


def run_wrk(base: str, script: Path, connections: int, duration: float, timeout_s: int) -> str:
    """``wrk -t1 -c<N> -d<duration>s --latency`` with ``script``; its output (RuntimeError
    when wrk fails or ran without the script's summary)."""
    cmd = [
        WRK,
        "-t1",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--latency",
        f"--timeout={timeout_s}s",
        "-s",
        str(script),
        base,
        "--",
        str(connections),  # connections per thread (-t1): 1 turns on exact per-request timing
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=duration + timeout_s + 30)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text[-2000:]}")
    if "WRKJSON " not in text:  # wrk only warns when a script fails to load, then sends GET /
        raise RuntimeError(f"wrk ran without our Lua script's summary: {text[-2000:]}")
    return text
