"""Fit and predict for every registered model, as the study trained them.

Torch models: SGD (momentum 0.9), weight decay 0.001, lr 0.01 / 10 every ``lr_step`` epochs,
binary cross-entropy per class (multi-label). AU-graph adds the AU loss with its alpha schedule.
LBP-TOP: features of TIM-interpolated, resized clips, then one linear SVM per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mestudio.analysis.models.registry import model_config
from mestudio.analysis.training.config import TrainConfig
from mestudio.analysis.training.data import ClipDataset, base_clip
from mestudio.analysis.training.sgd import build_model, input_batches, pos_weight, start_training, train_sgd


def _svm_input(clips: Sequence[np.ndarray], cfg: TrainConfig, size: int) -> list[np.ndarray]:
    return [base_clip(c, cfg.frames, size, cfg.magnify, cfg.fps) for c in clips]


def fit(
    name: str,
    clips: Sequence[np.ndarray],
    y: np.ndarray,
    cfg: TrainConfig,
    au_y: np.ndarray | None = None,
    progress: bool = True,
) -> tuple[Any, dict]:
    """Train model ``name`` on clips and 0/1 targets ``y`` (n, classes); (model, build kwargs).

    AU-graph also needs ``au_y`` (n, aus): its AU targets and the co-occurrence adjacency.
    """
    mc = model_config(name)
    if mc.views:  # CCDN: clips are 4D views, trained through analysis.training.views
        from mestudio.analysis.training.views import fit_views

        return fit_views(name, clips, y, cfg, progress)
    start_training(cfg)
    y = np.asarray(y)
    model, kwargs = build_model(name, y.shape[1], None if au_y is None else np.asarray(au_y).shape[1])
    if mc.trainable == "svm":
        model.fit(_svm_input(clips, cfg, cfg.size or mc.size), y, seed=cfg.seed)
        return model, kwargs
    if mc.family == "au_graph":
        if au_y is None:
            raise ValueError(f"{name} learns AUs and emotions together: give AU labels (au_y)")
        model.set_adjacency(np.asarray(au_y))
    dev = torch.device(cfg.device)
    ds = ClipDataset(
        clips,
        y,
        cfg.frames,
        cfg.size or mc.size,
        train=True,
        seed=cfg.seed,
        aux=au_y,
        mode=cfg.input,
        magnify_alpha=cfg.magnify,
        fps=cfg.fps,
    )
    me_weight = pos_weight(y).to(dev) if cfg.balance else None
    au_weight = pos_weight(np.asarray(au_y)).to(dev) if cfg.balance and au_y is not None else None

    def batch_loss(batch: list[torch.Tensor], epoch: int) -> torch.Tensor:
        if mc.family == "au_graph":  # the AU loss's share falls tenfold every alpha_step() epochs
            x, yb, ab = batch
            au_logits, me_logits = model(x)
            alpha = 1.0 / 10 ** (epoch // cfg.alpha_step())
            return model.loss(au_logits, me_logits, ab, yb, alpha, me_weight, au_weight)
        x, yb = batch
        return torch.nn.functional.binary_cross_entropy_with_logits(model(x), yb, pos_weight=me_weight)

    train_sgd(name, model, ds, cfg, batch_loss, progress)
    return model, kwargs


@torch.no_grad()
def predict_proba(
    name: str, model: Any, clips: Sequence[np.ndarray], cfg: TrainConfig, batch_size: int = 8
) -> np.ndarray:
    """(n, classes) probabilities (the SVM's decision squashed by a sigmoid: 0.5 at the margin)."""
    mc = model_config(name)
    if mc.views:  # CCDN: the fused Multi-views probabilities
        from mestudio.analysis.training.views import predict_views_proba

        return predict_views_proba(name, model, clips, cfg, batch_size)[:, -1]
    if mc.trainable == "svm":
        d = model.decision_function(_svm_input(clips, cfg, cfg.size or mc.size))
        return 1.0 / (1.0 + np.exp(-d))
    model.eval()
    ds = ClipDataset(
        clips,
        np.zeros((len(clips), 1)),
        cfg.frames,
        cfg.size or mc.size,
        train=False,
        mode=cfg.input,
        magnify_alpha=cfg.magnify,
        fps=cfg.fps,
    )
    out = []
    for x in input_batches(ds, batch_size):
        logits = model(x)
        if isinstance(logits, tuple):  # AU-graph: (AU logits, emotion logits)
            logits = logits[1]
        out.append(torch.sigmoid(logits).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))
