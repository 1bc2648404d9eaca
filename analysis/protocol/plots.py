"""Plots of results: per-class bars of F1 and accuracy per method, and per-class confusion."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mestudio.analysis.protocol.metrics import Report


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def plot_per_class(reports: Sequence[Report], path: str | Path, title: str = "") -> Path:
    """Grouped bars: F1 (left) and accuracy (right) per class, one colour per method."""
    plt = _plt()
    names = reports[0].names + ["Average"]
    x = np.arange(len(names))
    w = 0.8 / max(1, len(reports))
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.4 * len(names)), 3.6))
    for ax, metric in zip(axes, ("F1-score", "Accuracy")):
        for i, r in enumerate(reports):
            vals = [c.f1 if metric == "F1-score" else c.accuracy for c in r.classes]
            vals.append(r.mean_f1 if metric == "F1-score" else r.mean_accuracy)
            ax.bar(x + (i - (len(reports) - 1) / 2) * w, vals, w, label=r.method)
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(metric)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)


def plot_confusion(report: Report, path: str | Path) -> Path:
    """One 2x2 confusion (rows: true no/yes, columns: predicted no/yes) per class."""
    plt = _plt()
    n = len(report.classes)
    fig, axes = plt.subplots(1, n, figsize=(1.9 * n, 2.3), squeeze=False)
    for ax, c in zip(axes[0], report.classes):
        m = np.array([[c.tn, c.fp], [c.fn, c.tp]])
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(1, m.max()))
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=9)
        ax.set_xticks([0, 1], ["no", "yes"])
        ax.set_yticks([0, 1], ["no", "yes"])
        ax.set_title(c.name, fontsize=9)
    fig.suptitle(f"{report.method}: true (rows) vs predicted (columns)", fontsize=9)
    return _save(plt, fig, path)


def _save(plt, fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
