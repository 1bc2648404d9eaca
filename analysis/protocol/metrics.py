"""Per-class binary metrics as the study's equations 1-4, and their averages.

Every class (emotion or AU) is a binary detection task (multi-label). For class c:
    Accuracy  = (TP + TN) / (TP + TN + FP + FN)        (1)
    Precision = TP / (TP + FP)                          (2)
    Recall    = TP / (TP + FN)                          (3)
    F1        = 2 * Precision * Recall / (Precision + Recall)   (4)
A zero denominator gives 0 (no positive predictions or no positives: nothing detected right).
Averages are the unweighted means over classes, as the tables' "Average" column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ClassMetrics:
    name: str
    tp: int
    tn: int
    fp: int
    fn: int

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def accuracy(self) -> float:
        n = self.tp + self.tn + self.fp + self.fn
        return (self.tp + self.tn) / n if n else 0.0

    @property
    def precision(self) -> float:
        d = self.tp + self.fp
        return self.tp / d if d else 0.0

    @property
    def recall(self) -> float:
        d = self.tp + self.fn
        return self.tp / d if d else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    """Metrics of one method on one task, per class and averaged."""

    method: str
    classes: list[ClassMetrics] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean([c.accuracy for c in self.classes])) if self.classes else 0.0

    @property
    def mean_f1(self) -> float:
        return float(np.mean([c.f1 for c in self.classes])) if self.classes else 0.0

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "mean_accuracy": self.mean_accuracy,
            "mean_f1": self.mean_f1,
            "classes": {
                c.name: {
                    "tp": c.tp,
                    "tn": c.tn,
                    "fp": c.fp,
                    "fn": c.fn,
                    "support": c.support,
                    "accuracy": c.accuracy,
                    "precision": c.precision,
                    "recall": c.recall,
                    "f1": c.f1,
                }
                for c in self.classes
            },
        }


def evaluate_binary(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], method: str = "") -> Report:
    """``y_true``, ``y_pred``: (n_samples, n_classes) 0/1 arrays."""
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    if t.shape != p.shape or t.ndim != 2 or t.shape[1] != len(names):
        raise ValueError(f"labels {t.shape} and predictions {p.shape} must both be (n, {len(names)})")
    rep = Report(method)
    for j, name in enumerate(names):
        tj, pj = t[:, j], p[:, j]
        rep.classes.append(
            ClassMetrics(
                str(name), int((tj & pj).sum()), int((~tj & ~pj).sum()), int((~tj & pj).sum()), int((tj & ~pj).sum())
            )
        )
    return rep
