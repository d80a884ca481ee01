"""Fast checks of the comparison's pure parts: bodies (loadtests/compare/workload.py), wrk
parsing and its Lua script (loadtests/harness/), the table and the target checks."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loadtests.compare.checks import check_targets
from loadtests.compare.table import render_table
from loadtests.compare.workload import (
    chunks,
    firstpitch_batch_body,
    firstpitch_single_body,
    mlflow_body,
    mlserver_body,
)
from loadtests.harness.wrk import duration_ms, parse_wrk
from loadtests.harness.wrk_script import _lua_quote, lua_script

WRK_TEXT = """Running 5s test @ http://127.0.0.1:8080
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.51ms    1.02ms  210.00ms   91.00%
    Req/Sec     3.20k   150.00     3.50k    70.00%
  Latency Distribution
     50%  410.00us
     75%    2.80ms
     90%    3.10ms
     99%    1.20s
  16000 requests in 5.00s, 2.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   3200.00
Transfer/sec:    409.60KB
"""


def test_durations() -> None:
    assert duration_ms("410.00us") == pytest.approx(0.41)
    assert duration_ms("2.80ms") == pytest.approx(2.8)
    assert duration_ms("1.20s") == pytest.approx(1200)
    assert duration_ms("1.50m") == pytest.approx(90_000)
    with pytest.raises(ValueError):
        duration_ms("fast")


def test_parse_wrk_text() -> None:
    r = parse_wrk(WRK_TEXT)
    assert (r.requests, r.req_per_s, r.duration_s) == (16000, 3200.0, 5.0)
    assert (r.p50_ms, r.p75_ms, r.p90_ms, r.p99_ms) == pytest.approx((0.41, 2.8, 3.1, 1200.0))
    assert r.max_ms == pytest.approx(210.0)
    assert r.socket_errors == {"connect": 0, "read": 2, "write": 0, "timeout": 1}
    assert r.non_2xx_3xx == 4
    assert r.errors == 7
    assert not r.lua_summary


def test_parse_wrk_lua_summary_wins() -> None:
    line = {
        "requests": 16002, "duration_us": 5_000_000, "bytes": 1, "connect": 0, "read": 0,
        "write": 0, "status": 4, "timeout": 0, "non200": 6, "mean_us": 2500.5, "max_us": 210000,
        "p50_us": 412, "p90_us": 3100, "p99_us": 1_200_000, "p999_us": 1_300_000,
        "slow100_frac": 0.0125, "first_bad": '500 {"error": "x"}',
    }  # fmt: skip
    r = parse_wrk(WRK_TEXT + "WRKJSON " + json.dumps(line) + "\n")
    assert r.lua_summary
    assert r.req_per_s == pytest.approx(3200.4)
    assert r.p50_ms == pytest.approx(0.412)
    assert r.p999_ms == pytest.approx(1300.0)
    assert r.non_200 == 6
    assert r.errors == 6  # non-200 (6) > status (4); socket errors from the Lua line: none
    assert r.slow100_frac == pytest.approx(0.0125)
    assert r.first_bad.startswith("500")


def test_bodies_encode_nan_as_null() -> None:
    rows = [[1.0, math.nan], [0.5, 2.0]]
    ms = json.loads(mlserver_body(rows))
    assert ms["inputs"][0]["shape"] == [2, 2]
    assert ms["inputs"][0]["datatype"] == "FP64"
    assert ms["inputs"][0]["data"] == [1.0, None, 0.5, 2.0]
    mf = json.loads(mlflow_body(rows, ["a", "b"]))
    assert mf == {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, None], [0.5, 2.0]]}}
    assert json.loads(firstpitch_single_body("CHN202104010")) == {"game_id": "CHN202104010"}
    assert json.loads(firstpitch_batch_body(["A", "B"])) == {"game_ids": ["A", "B"]}
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5]]


def test_lua_long_strings_never_break_out() -> None:
    script = lua_script("/p", ['{"x":"]]"}', '{"y":"]=]"}'])
    assert '[==[{"x":"]]"}]==]' in script or '[=[{"x":"]]"}]=]' in script
    assert "]=]" in script and "function done" in script
    with pytest.raises(ValueError):
        lua_script("/p", [])
    tagged = lua_script("/p", ["{}"], {"X-Request-ID": "compare-1"})
    assert 'wrk.headers["X-Request-ID"] = "compare-1"' in tagged
    assert _lua_quote('a"b\\c') == r'"a\"b\\c"'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if b'"bad"' in body else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def test_lua_script_runs_in_wrk_and_counts_non_200(tmp_path: Path) -> None:
    # `./run.sh test` installs wrk where it is missing: its absence is a failure, not a skip.
    assert shutil.which("wrk"), "wrk is not installed (./run.sh test installs it as root)"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        script = tmp_path / "t.lua"
        script.write_text(lua_script("/x", ['{"ok":1}', '{"k":"bad"}'], {"X-Tag": 'a"b'}))
        url = f"http://127.0.0.1:{server.server_address[1]}"
        out = subprocess.run(
            ["wrk", "-t1", "-c1", "-d1s", "--latency", "-s", str(script), url, "--", "1"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    r = parse_wrk(out.stdout)
    assert r.lua_summary, out.stdout
    assert r.requests > 0
    assert r.non_200 >= r.requests // 2 - 1  # every other body is refused
    assert r.first_bad.startswith("500")
    assert r.errors >= r.non_200
    assert r.raw_n == r.requests  # one connection: every request timed exactly
    assert 0 < r.raw_p50_ms <= r.raw_p99_ms <= r.raw_max_ms


def _row(target: str, config: str, scenario: str, rps: float, p50: float = 1.0,
         p99: float = 5.0, errors: int = 0) -> dict[str, Any]:  # fmt: skip
    return {"target": target, "config": config, "scenario": scenario, "req_per_s": rps,
            "rows_per_s": rps, "p50_ms": p50, "p90_ms": p50, "p99_ms": p99, "p999_ms": p99,
            "errors": errors, "raw": None, "server_cpu_pct": 50.0}  # fmt: skip


def test_check_targets_pass_and_miss() -> None:
    rows = [
        _row("firstpitch", "inference=service", "single-c1", 600, p50=2.0, p99=8.0),
        _row("firstpitch", "inference=service", "single-c8", 1500),
        _row("firstpitch", "inference=service", "single-c32", 1500),
        _row("firstpitch", "inference=service", "batch50-c8", 300, p99=60.0),
        _row("mlserver", "default", "single-c8", 800),
        _row("mlserver", "best", "single-c8", 1400),
        _row("mlserver", "best", "batch50-c8", 250),
        _row("mlflow", "default", "single-c1", 100),
        _row("mlflow", "default", "single-c8", 100),
        _row("mlflow", "default", "single-c32", 100),
        _row("mlflow", "default", "batch50-c8", 100),
        _row("mlflow", "tuned", "single-c1", 20),
    ]
    checks = {c.target.split(":")[0]: c for c in check_targets(rows)}
    assert checks["single game 1 conn"].status == "PASS"
    assert checks["single game 8 conn"].status == "PASS"  # 1500 ≥ best MLServer 1400
    assert checks["50 games 8 conn"].status == "MISS"  # p99 60 ms > 50 ms
    mlflow = next(c for c in check_targets(rows) if "mlflow" in c.target)
    assert mlflow.status == "MISS"  # batch50: 300 / 100 = 3× < 5×
    assert "batch50-c8 3.0×" in mlflow.detail
    table = render_table(rows)
    assert table.count("\n") == len(rows) + 1


def test_logging_overhead_is_checked_against_the_logging_off_peer() -> None:
    rows = [
        _row("firstpitch", "inference=local", "batch50-c8", 300, p99=30.0),
        _row("firstpitch", "inference=local+log=off", "batch50-c8", 320, p99=26.0),
        _row("firstpitch", "inference=service", "batch50-c8", 250, p99=40.0),
        _row("firstpitch", "inference=service+log=off", "batch50-c8", 260, p99=30.0),
    ]
    checks = check_targets(rows)
    logging = {c.config: c for c in checks if "prediction logging" in c.target}
    assert logging["inference=local"].status == "PASS"  # 30 / 26 = 1.15 ≤ 1.2
    assert logging["inference=service"].status == "MISS"  # 40 / 30 = 1.33
    assert "1.15×" in logging["inference=local"].detail
    # the logging-off peer is not itself held to the product's targets
    assert not any(c.config.endswith("+log=off") for c in checks)


def test_single_games_are_held_to_bentomls_empty_route_and_the_hop_to_in_process() -> None:
    rows = [
        _row("bentoml", "empty-route", "single-c1", 2000),
        _row("bentoml", "empty-route", "single-c8", 2400),
        _row("firstpitch", "inference=local", "single-c1", 1500),  # 0.75x
        _row("firstpitch", "inference=local", "single-c8", 1600),  # 0.67x: a miss
        _row("firstpitch", "inference=local+cache", "single-c1", 1800),  # 0.90x
        _row("firstpitch", "inference=local+cache", "single-c8", 2100),  # 0.875x
        _row("firstpitch", "inference=service", "single-c8", 1250),  # 0.78x of local
        _row("firstpitch", "inference=local", "batch50-c8", 300),
        _row("firstpitch", "inference=service", "batch50-c8", 210),  # 0.70x: a miss
    ]
    checks = check_targets(rows)
    floor = {c.config: c for c in checks if "empty BentoML route" in c.target}
    assert floor["inference=local"].status == "MISS"
    assert "single-c8 1600.0 vs 2400.0 (0.67×)" in floor["inference=local"].detail
    assert floor["inference=local+cache"].status == "PASS"  # held to 0.85x, not 0.7x
    assert "0.85×" in floor["inference=local+cache"].target
    assert floor["inference=service"].status == "N/A"  # no single-c1 of it here
    hop = {c.target.split(":")[0]: c for c in checks if "model service" in c.target}
    assert hop["single-c8"].status == "PASS" and hop["batch50-c8"].status == "MISS"
    assert "(0.70×)" in hop["batch50-c8"].detail
    alone = [c for c in check_targets(rows[:2]) if "model service" in c.target]
    assert [c.status for c in alone] == ["N/A", "N/A"]  # nothing to hold it to


def test_batch_speed_targets_name_the_ceiling_measured_beside_them() -> None:
    rows = [
        _row("bentoml", "models+response", "batch50-c8", 600),
        _row("mlserver", "best", "batch50-c8", 1000),
        _row("firstpitch", "inference=local", "batch50-c8", 300, p99=20.0),
        _row("firstpitch", "inference=local+cache", "batch50-c8", 720, p99=20.0),
        _row("firstpitch", "inference=service", "batch50-c8", 720, p99=30.0),
    ]
    speed = {c.config: c for c in check_targets(rows) if c.target.startswith("speed")}
    assert speed["inference=local"].status == "MISS"  # 300 < max(697.5, 600)
    assert "the ceiling 600.0 req/s (0.50× of it; the bar 698 is above it)" in (
        speed["inference=local"].detail
    )
    assert speed["inference=local+cache"].status == "PASS"  # 720 ≥ 698, p99 20 ms
    assert speed["inference=service"].status == "MISS"  # p99 30 ms > 25 ms
    assert "0.72× MLServer best" in speed["inference=service"].detail
    alone = [c for c in check_targets(rows[2:3]) if c.target.startswith("speed")]
    assert alone[0].status == "MISS" and "ceiling" not in alone[0].detail
