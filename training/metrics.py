"""Probability-quality metrics: log loss, Brier, AUC, accuracy, expected calibration error."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.metrics import f1_score, log_loss, precision_score, recall_score, roc_auc_score

Array = npt.NDArray[np.float64]


def ece(y: Array, p: Array, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(float(y[mask].mean()) - float(p[mask].mean()))
    return float(total)


def scores(y: Array, p: Array) -> dict[str, float]:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return {
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(np.mean((p - y) ** 2)),
        "auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
        "ece": ece(y, p),
        "n": len(y),
    }


def classification(y: Array, p: Array) -> dict[str, float]:
    """The model card's metrics at the 0.5 threshold."""
    pred = (p >= 0.5).astype(int)
    return {
        "accuracy": float(np.mean(pred == y)),
        "precision_score": float(precision_score(y, pred, zero_division=0)),
        "recall_score": float(recall_score(y, pred, zero_division=0)),
        "f1_score": float(f1_score(y, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
    }


def reliability(y: Array, p: Array, bins: int = 10) -> tuple[Array, Array, Array]:
    """Mean predicted, observed frequency and count per bin (for the calibration plot)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    pred, obs, cnt = [], [], []
    for b in range(bins):
        mask = which == b
        if mask.any():
            pred.append(float(p[mask].mean()))
            obs.append(float(y[mask].mean()))
            cnt.append(float(mask.sum()))
    return np.array(pred), np.array(obs), np.array(cnt)
