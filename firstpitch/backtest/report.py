"""A backtest's report: ``summary.json``, three PNG plots and ``report.html`` showing them,
written into one directory from the run's stored rows (so the report shows what the
performance endpoint reads for ``run=``)."""

from __future__ import annotations

import asyncio
import html
import json
from pathlib import Path
from typing import Any

from firstpitch.backtest import figures, plots
from storage import backtests
from storage.postgres import Conn

PLOTS = {
    "calibration": "calibration.png",
    "cumulative": "cumulative_roi_clv.png",
    "monthly": "monthly_log_loss.png",
}
TYPES = ("moneyline", "total")
TARGET = {"moneyline": "home_win", "total": "total_over"}
WHAT = {"moneyline": "home win", "total": "over the opening total"}


async def build(
    conn: Conn, run: backtests.Run, prediction_type: str, timings: dict[str, float], out: Path
) -> dict[str, Any]:
    """Write the report of ``run`` (plots of ``prediction_type``) into ``out``; the summary."""
    rows = await backtests.outcome_rows(conn, run.run_id, prediction_type)
    closing = await backtests.closing_prices(conn, [r["game_id"] for r in rows], prediction_type)
    method = run.policy["devig_method"]
    performance = {
        ptype: (await backtests.performance(conn, run, ptype)).get(run.version_of(ptype))
        for ptype in TYPES
    }
    calibration = figures.calibration(rows)
    bets = {
        ptype: figures.cumulative_bets(
            rows if ptype == prediction_type
            else await backtests.outcome_rows(conn, run.run_id, ptype)
        )
        for ptype in TYPES
    }  # fmt: skip
    months = figures.monthly(rows, closing, method)
    summary: dict[str, Any] = {
        "run_id": run.run_id,
        "season": run.season,
        "date_from": run.date_from.isoformat(),
        "date_to": run.date_to.isoformat(),
        "model_name": run.model_name,
        "model_version": run.version_of(prediction_type),
        "prediction_type": prediction_type,
        "models": {"home_win": run.home_model_version, "total_over": run.total_model_version},
        "feature_version": run.feature_version,
        "policy": run.policy,
        "games": run.games,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "elapsed_s": run.elapsed_s,
        "scoring_s": timings["scoring_s"],
        "predict_calls": timings["calls"],
        "performance": performance,
        "calibration": calibration,
        "bets": {ptype: figures.bet_totals(series) for ptype, series in bets.items()},
        "monthly_log_loss": months,
        "plots": PLOTS,
    }
    await asyncio.to_thread(write, summary, bets, out)
    return summary


def write(summary: dict[str, Any], bets: dict[str, list[dict[str, Any]]], out: Path) -> None:
    """The plots, summary.json and report.html (blocking: matplotlib and files)."""
    out.mkdir(parents=True, exist_ok=True)
    ptype = summary["prediction_type"]
    label = f"{summary['model_name']} v{summary['model_version']}, {summary['season']}"
    plots.calibration_plot(
        summary["calibration"], out / PLOTS["calibration"],
        f"Calibration: P({WHAT[ptype]}), {label}",
    )  # fmt: skip
    versions = summary["models"]
    plots.cumulative_plot(
        {f"{t} (v{versions[TARGET[t]]})": series for t, series in bets.items()},
        out / PLOTS["cumulative"],
        f"Recommended bets, {summary['season']}",
    )
    plots.monthly_plot(
        summary["monthly_log_loss"], out / PLOTS["monthly"],
        f"Monthly log loss vs the market ({label})",
    )  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.html").write_text(render(summary))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def render(summary: dict[str, Any]) -> str:
    """The HTML page: the run, its figures per prediction type, the three plots."""
    keys = ("resolved", "accuracy", "log_loss", "brier", "auc", "bets", "roi",
            "closing_line_value")  # fmt: skip
    head = "".join(f"<th>{k}</th>" for k in ("type", *keys))
    body = "".join(
        "<tr><td>" + ptype + "</td>" + "".join(f"<td>{_fmt((p or {}).get(k))}</td>" for k in keys)
        + "</tr>"
        for ptype, p in summary["performance"].items()
    )  # fmt: skip
    months = "".join(
        f"<tr><td>{m['month']}</td><td>{m['games']}</td><td>{_fmt(m['model_log_loss'])}</td>"
        f"<td>{_fmt(m['opening_log_loss'])}</td><td>{_fmt(m['closing_log_loss'])}</td></tr>"
        for m in summary["monthly_log_loss"]
    )
    images = "".join(
        f'<figure><img src="{name}" alt="{key}"><figcaption>{key}</figcaption></figure>'
        for key, name in summary["plots"].items()
    )
    title = f"Backtest {summary['run_id']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
text-align:right}}img{{max-width:100%}}</style></head><body>
<h1>{title}</h1>
<p>Season {summary["season"]} ({summary["date_from"]} to {summary["date_to"]}), {summary["games"]}
games scored as of each cutoff through the serving path by {html.escape(summary["model_name"])}
version {html.escape(summary["model_version"])} (home win v{summary["models"]["home_win"]},
total over v{summary["models"]["total_over"]}, feature set {summary["feature_version"]});
{summary["elapsed_s"]:.1f} s.</p>
<h2>Performance</h2><table><tr>{head}</tr>{body}</table>
<h2>Monthly log loss ({summary["prediction_type"]}, games with both market prices)</h2>
<table><tr><th>month</th><th>games</th><th>model</th><th>opening line</th><th>closing line</th>
</tr>{months}</table>
<h2>Plots</h2>{images}
<p>Summary: <a href="summary.json">summary.json</a></p>
</body></html>
"""
