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
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


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


def cumulative_plot(series: dict[str, list[dict[str, Any]]], path: Path, title: str) -> Path:
    """Per market, by game date: the running ROI of the recommended bets (top, flat unit
    stakes), the running profit in units (middle) and the running mean CLV (bottom)."""
    fig, (roi_ax, profit_ax, clv_ax) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for (label, bets), color in zip(series.items(), COLORS, strict=False):
        days = [date.fromisoformat(b["game_date"]) for b in bets]
        name = f"{label}: {len(bets)} bet{'' if len(bets) == 1 else 's'}"
        roi_ax.plot(days, [100 * b["cumulative_roi"] for b in bets], color=color, label=name,
                    marker="o" if len(bets) < 20 else None)  # fmt: skip
        profit_ax.plot(days, [b["cumulative_profit"] for b in bets], color=color, label=name,
                       marker="o" if len(bets) < 20 else None)  # fmt: skip
        clv = [(d, b["cumulative_clv"]) for d, b in zip(days, bets, strict=True)]
        clv = [(d, v) for d, v in clv if v is not None]
        clv_ax.plot([d for d, _ in clv], [100 * v for _, v in clv], color=color, label=name,
                    marker="o" if len(clv) < 20 else None)  # fmt: skip
    for ax, ylabel in (
        (roi_ax, "cumulative ROI (% per unit bet)"),
        (profit_ax, "cumulative profit (units)"),
        (clv_ax, "cumulative mean CLV (%)"),
    ):
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    roi_ax.legend(loc="best")
    roi_ax.set_title(title)
    clv_ax.set_xlabel("game date")
    formatter = mdates.DateFormatter("%b %d")  # type: ignore[no-untyped-call]
    clv_ax.xaxis.set_major_formatter(formatter)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def monthly_plot(months: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Per month, side by side: the model's log loss and the opening and the closing
    market's on the same games (points joined by lines; the values are in the report)."""
    fig, ax = plt.subplots(figsize=(9, 5))
    x = list(range(len(months)))
    series = (
        ("model_log_loss", "model", "tab:blue", "o", -0.12),
        ("opening_log_loss", "opening line", "tab:orange", "s", 0.0),
        ("closing_log_loss", "closing line", "tab:green", "^", 0.12),
    )
    for key, label, color, marker, shift in series:
        ax.plot([i + shift for i in x], [m[key] for m in months], color=color, marker=marker,
                markersize=8, linewidth=1, label=label)  # fmt: skip
    ax.set_xticks(x, [f"{m['month']}\n{m['games']} games" for m in months])
    ax.set_xlim(-0.5, len(months) - 0.5)
    ax.set_ylabel("log loss (lower is better)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
