"""The study's optimisation, shared by the clip models (training/loop.py) and the 4D views models
(training/views.py): seeding, building a model, class balance, the SGD epochs and batched
prediction.

SGD with momentum and weight decay; the learning rate divided by 10 every ``cfg.step_every()``
epochs; each model brings only its loss.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator, Sized
from typing import Any, cast

import numpy as np
import torch

from mestudio.analysis.models.registry import create_model, model_config
from mestudio.analysis.training.config import TrainConfig


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def start_training(cfg: TrainConfig) -> None:
    """Seeds and the thread count, before any model or dataset is made."""
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


def build_model(name: str, num_classes: int, num_aus: int | None = None) -> tuple[Any, dict]:
    """(new model, the kwargs it was built with)."""
    kwargs: dict = {"num_classes": num_classes}
    if model_config(name).family == "au_graph":
        kwargs["num_aus"] = int(num_aus or 8)
    return create_model(name, **kwargs), kwargs


def pos_weight(y: np.ndarray) -> torch.Tensor:
    """negatives/positives per class (1 where a class has no positives), capped at 10."""
    pos = y.sum(axis=0).astype(np.float32)
    w = np.where(pos > 0, (len(y) - pos) / np.maximum(pos, 1), 1.0)
    return torch.from_numpy(np.clip(w, 1.0, 10.0).astype(np.float32))


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", disable=not enabled, file=sys.stderr, leave=False)


def train_sgd(
    name: str,
    model: torch.nn.Module,
    ds: torch.utils.data.Dataset,
    cfg: TrainConfig,
    batch_loss: Callable[[list[torch.Tensor], int], torch.Tensor],
    progress: bool = True,
) -> None:
    """Train ``model`` on ``ds`` for ``cfg.epochs``; ``batch_loss(batch, epoch)`` gets the batch's
    tensors on ``cfg.device``.  Leaves the model on the CPU, in eval mode."""
    dev = torch.device(cfg.device)
    model.to(dev)
    gen = torch.Generator().manual_seed(cfg.seed)
    samples = len(cast(Sized, ds))  # both clip datasets are map-style, with a length
    loader = torch.utils.data.DataLoader(
        ds, batch_size=cfg.batch_size, shuffle=True, generator=gen, drop_last=samples > cfg.batch_size
    )
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_every(), gamma=0.1)
    model.train()
    bar = _progress(cfg.epochs, name, progress)
    try:
        for epoch in range(cfg.epochs):
            total, n = 0.0, 0
            for batch in loader:
                opt.zero_grad()
                batch = [b.to(dev) for b in batch]
                loss = batch_loss(batch, epoch)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(batch[0])
                n += len(batch[0])
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{total / max(1, n):.4f}", lr=f"{sched.get_last_lr()[0]:.0e}")
    finally:
        bar.close()
    model.cpu().eval()


def input_batches(ds: torch.utils.data.Dataset, batch_size: int) -> Iterator[torch.Tensor]:
    """The dataset's inputs (the first item of each sample), stacked ``batch_size`` at a time."""
    n = len(cast(Sized, ds))
    for i in range(0, n, batch_size):
        yield torch.stack([ds[j][0] for j in range(i, min(n, i + batch_size))])
