"""The study's protocol end to end: subject-independent k-fold CV of one model on one task."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mestudio.analysis.datasets.errors import FoldError
from mestudio.analysis.datasets.samples import EMOTIONS, STUDY_AUS, LabelBook
from mestudio.analysis.models.registry import model_config
from mestudio.analysis.protocol.folds import Folds, subject_folds
from mestudio.analysis.protocol.metrics import Report, evaluate_binary
from mestudio.analysis.training.config import TrainConfig
from mestudio.analysis.training.loop import fit, predict_proba

TASKS = ("emotion", "au")


@dataclass
class TaskLabels:
    names: list[str]
    y: np.ndarray
    au_names: list[str]
    au_y: np.ndarray


def task_labels(book: LabelBook, task: str, k: int = 5) -> TaskLabels:
    """Targets of ``task`` keeping only classes that k folds can all hold (>= k subjects)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {TASKS}")
    au_names = [f"AU{a}" for a in STUDY_AUS]
    au_y = book.au_matrix(STUDY_AUS)
    names, y = (list(EMOTIONS), book.emotion_matrix(EMOTIONS)) if task == "emotion" else (au_names, au_y)
    subj = np.array(book.subjects)
    keep = [j for j in range(y.shape[1]) if len(set(subj[y[:, j] > 0])) >= k]
    au_keep = [j for j in range(au_y.shape[1]) if au_y[:, j].any()]
    return TaskLabels([names[j] for j in keep], y[:, keep], [au_names[j] for j in au_keep], au_y[:, au_keep])


def _labels_and_folds(
    book: LabelBook, task: str, cfg: TrainConfig, k: int, folds: Folds | None
) -> tuple[TaskLabels, Folds]:
    """The task's classes found in k or more subjects, and the k subject-independent folds."""
    labels = task_labels(book, task, k)
    if not labels.names:
        raise FoldError(f"no {task} class occurs in {k} or more subjects; add subjects or clips, or use fewer folds")
    return labels, folds or subject_folds(book.subjects, labels.y, k, seed=cfg.seed)


def cross_validate(
    name: str,
    book: LabelBook,
    clips: Sequence[np.ndarray],
    task: str,
    cfg: TrainConfig,
    k: int = 5,
    folds: Folds | None = None,
    progress: bool = True,
    method: str | None = None,
) -> tuple[Report, np.ndarray]:
    """Pooled test predictions over the k folds scored per class (eq. 1-4); (report, predictions)."""
    labels, folds = _labels_and_folds(book, task, cfg, k, folds)
    needs_au = model_config(name).family == "au_graph"
    if needs_au and task != "emotion":
        raise ValueError(f"{name} recognises emotions through AUs: use --task emotion")
    pred = np.zeros_like(labels.y)
    for tr, te in folds:
        model, _ = fit(
            name,
            [clips[i] for i in tr],
            labels.y[tr],
            cfg,
            au_y=labels.au_y[tr] if needs_au else None,
            progress=progress,
        )
        proba = predict_proba(name, model, [clips[i] for i in te], cfg)
        pred[te] = (proba > cfg.threshold).astype(pred.dtype)
    return evaluate_binary(labels.y, pred, labels.names, method or name), pred


VIEW_ROWS = ("Left", "Right", "Front", "Multi-views")  # Tables 7-8's row order
_VIEW_COLUMN = {"Left": 0, "Front": 1, "Right": 2, "Multi-views": 3}  # predict_views_proba's order


def cross_validate_views(
    name: str,
    book: LabelBook,
    clips: Sequence[np.ndarray],
    task: str,
    cfg: TrainConfig,
    k: int = 5,
    folds: Folds | None = None,
    progress: bool = True,
) -> list[Report]:
    """Tables 7-8: a 4D views model (CCDN) cross-validated subject-independently; one report per
    row: each profile's own predictions (Left, Right, Front) and the fused Multi-views ones, all
    from the same trained models."""
    from mestudio.analysis.training.views import predict_views_proba

    if not model_config(name).views:
        raise ValueError(f"{name} is not a 4D views model; use cross_validate")
    labels, folds = _labels_and_folds(book, task, cfg, k, folds)
    pred = np.zeros((len(VIEW_ROWS), *labels.y.shape), labels.y.dtype)
    for tr, te in folds:
        model, _ = fit(name, [clips[i] for i in tr], labels.y[tr], cfg, progress=progress)
        proba = predict_views_proba(name, model, [clips[i] for i in te], cfg)
        for r, row in enumerate(VIEW_ROWS):
            pred[r][te] = (proba[:, _VIEW_COLUMN[row]] > cfg.threshold).astype(pred.dtype)
    return [evaluate_binary(labels.y, pred[r], labels.names, row) for r, row in enumerate(VIEW_ROWS)]
