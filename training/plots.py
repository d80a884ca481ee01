"""The reliability (calibration) and feature-importance plots logged with each model."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training.metrics import Array, reliability


def reliability_plot(curves: dict[str, tuple[Array, Array]], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for label, (y, p) in curves.items():
        pred, obs, _ = reliability(y, p)
        ax.plot(pred, obs, marker="o", label=label)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def importance_plot(names: list[str], gains: Array, path: Path, top: int = 25) -> Path:
    order = np.argsort(gains)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 8))
    ax.barh([names[i] for i in order], gains[order])
    ax.set_xlabel("total gain")
    ax.set_title("feature importance")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
