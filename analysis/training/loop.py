"""Fit and predict for every registered model, as the study trained them.

Torch models: SGD (momentum 0.9), weight decay 0.001, lr 0.01 / 10 every ``lr_step`` epochs,
binary cross-entropy per class (multi-label). AU-graph adds the AU loss with its alpha schedule.
LBP-TOP: features of TIM-interpolated, resized clips, then one linear SVM per class.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mestudio.analysis.models.registry import create_model, model_config
from mestudio.analysis.training.config import TrainConfig
from mestudio.analysis.training.data import ClipDataset, base_clip


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", disable=not enabled, file=sys.stderr, leave=False)


def _svm_input(clips: Sequence[np.ndarray], cfg: TrainConfig, size: int) -> list[np.ndarray]:
    return [base_clip(c, cfg.frames, size, cfg.magnify, cfg.fps) for c in clips]


def _pos_weight(y: np.ndarray) -> torch.Tensor:
    """negatives/positives per class (1 where a class has no positives), capped at 10."""
    pos = y.sum(axis=0).astype(np.float32)
    w = np.where(pos > 0, (len(y) - pos) / np.maximum(pos, 1), 1.0)
    return torch.from_numpy(np.clip(w, 1.0, 10.0).astype(np.float32))


def build_model(name: str, num_classes: int, num_aus: int | None = None) -> tuple[Any, dict]:
    """(new model, the kwargs it was built with)."""
    kwargs: dict = {"num_classes": num_classes}
    if model_config(name).family == "au_graph":
        kwargs["num_aus"] = int(num_aus or 8)
    return create_model(name, **kwargs), kwargs


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
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    y = np.asarray(y)
    model, kwargs = build_model(name, y.shape[1], None if au_y is None else np.asarray(au_y).shape[1])
    if mc.trainable == "svm":
        model.fit(_svm_input(clips, cfg, cfg.size or mc.size), y, seed=cfg.seed)
        return model, kwargs
    if mc.family == "au_graph":
        if au_y is None:
            raise ValueError(f"{name} learns AUs and emotions together: give AU labels (au_y)")
        model.set_adjacency(np.asarray(au_y))
    size = cfg.size or mc.size
    dev = torch.device(cfg.device)
    model.to(dev)
    ds = ClipDataset(
        clips,
        y,
        cfg.frames,
        size,
        train=True,
        seed=cfg.seed,
        aux=au_y,
        mode=cfg.input,
        magnify_alpha=cfg.magnify,
        fps=cfg.fps,
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=cfg.batch_size, shuffle=True, generator=gen, drop_last=len(ds) > cfg.batch_size
    )
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_every(), gamma=0.1)
    pos_weight = _pos_weight(y).to(dev) if cfg.balance else None
    au_pos_weight = _pos_weight(np.asarray(au_y)).to(dev) if cfg.balance and au_y is not None else None

    def bce(logits, target):
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)

    model.train()
    bar = _progress(cfg.epochs, name, progress)
    try:
        for epoch in range(cfg.epochs):
            alpha = 1.0 / 10 ** (epoch // cfg.alpha_step())
            total, n = 0.0, 0
            for batch in loader:
                opt.zero_grad()
                batch = [b.to(dev) for b in batch]
                if mc.family == "au_graph":
                    x, yb, ab = batch
                    au_logits, me_logits = model(x)
                    loss = model.loss(au_logits, me_logits, ab, yb, alpha, pos_weight, au_pos_weight)
                else:
                    x, yb = batch
                    loss = bce(model(x), yb)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(x)
                n += len(x)
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{total / max(1, n):.4f}", lr=f"{sched.get_last_lr()[0]:.0e}")
    finally:
        bar.close()
    model.cpu().eval()
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
    for i in range(0, len(ds), batch_size):
        x = torch.stack([ds[j][0] for j in range(i, min(len(ds), i + batch_size))])
        logits = model(x)
        if isinstance(logits, tuple):  # AU-graph: (AU logits, emotion logits)
            logits = logits[1]
        out.append(torch.sigmoid(logits).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))
