"""The report's PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

DPI = 110


def calibration_plot(bins: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Observed frequency against mean predicted probability per bin, the diagonal, and the
    number of games in each bin as bars (right axis) and as labels."""
    fig, ax = plt.subplots(figsize=(7, 6))
    counts_ax = ax.twinx()
    width = bins[0]["bin_high"] - bins[0]["bin_low"] if bins else 0.05
    counts_ax.bar(
        [b["bin_low"] + width / 2 for b in bins], [b["count"] for b in bins],
        width=width * 0.9, color="tab:grey", alpha=0.25, label="games in bin",
    )  # fmt: skip
    counts_ax.set_ylabel("games in bin")
    counts_ax.set_ylim(0, max([b["count"] for b in bins] + [1]) * 3)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(
        [b["mean_predicted"] for b in bins], [b["observed"] for b in bins],
        marker="o", color="tab:blue", label="model",
    )  # fmt: skip
    for b in bins:
        ax.annotate(
            str(b["count"]), (b["mean_predicted"], b["observed"]), textcoords="offset points",
            xytext=(0, 7), ha="center", fontsize=8,
        )  # fmt: skip
    # x: the bins with games; y: the whole [0, 1] (a sparse bin can observe 0 or 1)
    ax.set_xlim(
        min([b["bin_low"] for b in bins] + [0.3]), max([b["bin_high"] for b in bins] + [0.7])
    )
    ax.set_ylim(-0.02, 1.05)
    ax.set_zorder(counts_ax.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel("observed frequency")
    ax.set_title(title)
    handles = ax.get_legend_handles_labels()
    extra = counts_ax.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def cumulative_plot(bets: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Running profit and ROI of the recommended bets (top) and their running mean CLV
    (bottom), by game date."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    days = [date.fromisoformat(b["game_date"]) for b in bets]
    top.plot(days, [100 * b["cumulative_roi"] for b in bets], color="tab:blue", label="ROI")
    top.axhline(0, color="grey", linewidth=0.8)
    top.set_ylabel("cumulative ROI (% per unit bet)")
    profit_ax = top.twinx()
    profit_ax.plot(
        days, [b["cumulative_profit"] for b in bets], color="tab:orange", label="profit (units)"
    )
    profit_ax.set_ylabel("cumulative profit (units, flat stakes)")
    lines = top.get_legend_handles_labels()
    more = profit_ax.get_legend_handles_labels()
    top.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right")
    top.set_title(f"{title}: {len(bets)} recommended bets")
    clv = [(d, b["cumulative_clv"]) for d, b in zip(days, bets, strict=True)]
    clv = [(d, v) for d, v in clv if v is not None]
    bottom.plot([d for d, _ in clv], [100 * v for _, v in clv], color="tab:green")
    bottom.axhline(0, color="grey", linewidth=0.8)
    bottom.set_ylabel("cumulative mean CLV (%)")
    bottom.set_xlabel("game date")
    formatter = mdates.DateFormatter("%b %d")  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_formatter(formatter)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def monthly_plot(months: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Grouped bars per month: the model's log loss, the opening and the closing market's."""
    fig, ax = plt.subplots(figsize=(9, 5))
    x = list(range(len(months)))
    series = (
        ("model_log_loss", "model", "tab:blue"),
        ("opening_log_loss", "opening line", "tab:orange"),
        ("closing_log_loss", "closing line", "tab:green"),
    )
    width = 0.27
    values = [m[key] for m in months for key, _, _ in series]
    for k, (key, label, color) in enumerate(series):
        ax.bar([i + (k - 1) * width for i in x], [m[key] for m in months], width, label=label,
               color=color)  # fmt: skip
    if values:
        spread = max(values) - min(values)
        ax.set_ylim(min(values) - max(spread, 0.01) * 1.5, max(values) + max(spread, 0.01) * 1.5)
    ax.set_xticks(x, [f"{m['month']}\n{m['games']} games" for m in months])
    ax.set_ylabel("log loss (lower is better)")
    ax.set_title(title)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
