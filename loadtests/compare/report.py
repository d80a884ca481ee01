"""The comparison's report: compare.md (tables, targets, every configuration as run) and
compare.json (the same, as data); returns what is printed at the end of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtests.compare.checks import check_targets
from loadtests.compare.table import render_raw_table, render_table

NOTES = {
    ("firstpitch", "inference=service"): "API worker + batching model service "
    "(bentoml.depends over a Unix socket); prediction cache off; everything else as "
    "the working tree's Settings defaults (see Code above)",
    ("firstpitch", "inference=local"): "the project default: boosters in the API process, "
    "no model-service hop; prediction cache off",
    ("mlserver", "best"): "parallel_workers=0 (inference in the server process), debug=false "
    "(no access log), metrics_endpoint=null (no metrics server/middleware), OMP_NUM_THREADS=1",
    ("mlserver", "default"): "MLServer defaults (parallel_workers=1 inference pool, debug=true "
    "access log, metrics on port metrics_port); only host/ports set",
    ("mlflow", "tuned"): "-w 2 uvicorn workers, UVICORN_ACCESS_LOG=false, OMP_NUM_THREADS=1; "
    "suffers Nagle/delayed-ACK (~40 ms) on keep-alive connections because uvicorn's "
    "multi-worker socket gets no TCP_NODELAY",
    ("mlflow", "default"): "mlflow models serve defaults (-w 1, timeout 60 s, access log on)",
}


def write_report(
    out_dir: Path,
    rows: list[dict[str, Any]],
    metas: list[dict[str, Any]],
    header: dict[str, Any],
    failures: list[str],
) -> str:
    checks = check_targets(rows)
    table = render_table(rows)
    lines = [
        "# firstpitch vs MLServer vs mlflow models serve",
        "",
        f"Run {header['started_at']} → {header['finished_at']} on {header['machine']}; "
        f"wrk -t1, {header['duration_s']:g} s per scenario, keep-alive; all servers on "
        "127.0.0.1 of the same machine as wrk (shared machine; load average 1/5/15 min "
        f"{header['load_average_start']} at start, {header['load_average_end']} at end).",
        "",
        f"Code: HEAD {header['git']['head']}, uncommitted changes: "
        f"{', '.join(header['git']['uncommitted']) or 'none'}.",
        "",
        "firstpitch = **full path** (Redis feature read, cutoff check, both champions, betting, "
        "prediction log), prediction cache off. mlserver / mlflow = **raw inference** of the "
        "home-win champion only (feature vectors in the request).",
        "",
        table,
        "",
        "Latencies above are wrk's. wrk corrects its histogram for coordinated omission "
        "(`stats_correct`): a request slower than twice the mean per-connection interval adds "
        "synthetic samples at that latency minus 1, 2, … intervals, so a handful of real "
        "stalls inflate p90/p99 (most at 1 connection). Req/s, errors and CPU are not "
        "affected. Server CPU % = CPU seconds of the server's process tree per wall second "
        "(200% = both cores).",
        "",
        "### 1 connection: exact per-request latency (LuaJIT clock in the wrk script)",
        "",
        render_raw_table(rows),
        "",
        "## Targets (firstpitch full path vs the peers' fastest configuration, same run)",
        "",
        "Judged on wrk's numbers as printed above.",
        "",
        *[c.line() for c in checks],
        "",
        "## Configurations",
        "",
    ]
    for meta in metas:
        note = NOTES.get((meta["target"], meta["config"]), "")
        lines.append(
            f"- **{meta['target']} [{meta['config']}]** — {note}: "
            f"`{json.dumps(meta['settings'])}`; startup {meta.get('startup_s')} s; "
            f"check {json.dumps(meta.get('check'))}; stop {json.dumps(meta.get('stop'))}"
            + (
                f"; access-log lines {meta['access_log_lines']}"
                if "access_log_lines" in meta
                else ""
            )
            + (
                f"; prediction log {json.dumps(meta['prediction_log'])}"
                if "prediction_log" in meta
                else ""
            )
        )
    if failures:
        lines += ["", "## Failures", "", *[f"- {f}" for f in failures]]
    md = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "compare.md").write_text(md)
    payload = {
        **header,
        "results": rows,
        "targets": [c.__dict__ for c in checks],
        "configurations": metas,
        "failures": failures,
    }
    (out_dir / "compare.json").write_text(json.dumps(payload, indent=2))
    return (
        table
        + "\n\n1 connection, exact per-request latency:\n"
        + render_raw_table(rows)
        + "\n\n"
        + "\n".join(c.line() for c in checks)
    )
