"""Training and prediction for the 4D views models (CCDN): each clip is its views,
(profiles, domains, T, S, S) uint8 (analysis.fourd), turned into cross-domain dynamic images.

Per clip: optional Eulerian magnification of every view sequence (the study duplicates the
training set with EVM: ``cfg.magnify > 0`` adds a magnified copy of every training clip; test
clips are not magnified), approximate rank pooling of each (profile, domain) sequence, then
resize to side * 150/112 and a random (train) or centred (test) crop of the model's side, the
same window in every view.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mestudio.analysis.fourd.dynamic import dynamic_images, magnify_views
from mestudio.analysis.models.ccdn import CCDN
from mestudio.analysis.models.registry import model_config
from mestudio.analysis.preprocess.crops import center_crop, random_crop, resize_clip
from mestudio.analysis.training.config import TrainConfig
from mestudio.analysis.training.sgd import build_model, input_batches, pos_weight, start_training, train_sgd


def check_views_clip(clip: np.ndarray, i: int) -> None:
    c = np.asarray(clip)
    if c.ndim != 5 or c.shape[0] != 3:
        raise ValueError(
            f"clip {i}: a 4D views model needs (3 profiles, domains, T, S, S) views, got shape {c.shape}; "
            "use --dataset synthetic4d or 4dme4d"
        )


def views_input(clip: np.ndarray, side: int, magnify_alpha: float = 0.0, fps: float = 60.0) -> np.ndarray:
    """(P, D, T, S, S) uint8 -> (P, D, side', side') float32 dynamic images in [-1, 1]."""
    c = np.asarray(clip)
    if magnify_alpha > 0:
        c = magnify_views(c, fps, alpha=magnify_alpha)
    di = dynamic_images(c)  # (P, D, S, S)
    p, d, s, _ = di.shape
    return resize_clip(di.reshape(p * d, s, s), side).reshape(p, d, side, side)


class ViewsDataset(torch.utils.data.Dataset):
    def __init__(
        self,
        clips: Sequence[np.ndarray],
        y: np.ndarray,
        size: int,
        train: bool,
        seed: int = 0,
        magnify: Sequence[float] | None = None,
        fps: float = 60.0,
    ) -> None:
        for i, c in enumerate(clips):
            check_views_clip(c, i)
        self.clips, self.y, self.size, self.train = clips, np.asarray(y, np.float32), size, train
        self.magnify = list(magnify) if magnify is not None else [0.0] * len(clips)
        self.fps = fps
        self.rng = np.random.default_rng(seed)
        self._cache: dict[int, np.ndarray] = {}  # rank pooling is deterministic: once per clip

    def __len__(self) -> int:
        return len(self.clips)

    def base(self, i: int) -> np.ndarray:
        if i not in self._cache:
            self._cache[i] = views_input(self.clips[i], int(round(self.size * 150 / 112)), self.magnify[i], self.fps)
        return self._cache[i]

    def __getitem__(self, i: int):
        b = self.base(i)
        p, d, s, _ = b.shape
        flat = b.reshape(p * d, s, s)
        x = random_crop(flat, self.size, self.rng) if self.train else center_crop(flat, self.size)
        xt = torch.from_numpy(np.ascontiguousarray(x.reshape(p, d, self.size, self.size), np.float32))
        return xt, torch.from_numpy(self.y[i])


def fit_views(
    name: str, clips: Sequence[np.ndarray], y: np.ndarray, cfg: TrainConfig, progress: bool = True
) -> tuple[torch.nn.Module, dict]:
    """Train CCDN-family model ``name``: SGD as the 2D models, the loss each view's BCE plus the
    fused one (CCDN.loss)."""
    start_training(cfg)
    y = np.asarray(y)
    model, kwargs = build_model(name, y.shape[1])
    clips, mags = list(clips), [0.0] * len(clips)
    if cfg.magnify > 0:  # the study's EVM duplicate of the training set
        clips, mags, y = clips + clips, mags + [cfg.magnify] * len(clips), np.concatenate([y, y])
    size = cfg.size or model_config(name).size
    ds = ViewsDataset(clips, y, size, train=True, seed=cfg.seed, magnify=mags, fps=cfg.fps)
    weight = pos_weight(y).to(torch.device(cfg.device)) if cfg.balance else None

    def batch_loss(batch: list[torch.Tensor], epoch: int) -> torch.Tensor:
        x, yb = batch
        return model.loss(x, yb, weight)

    train_sgd(name, model, ds, cfg, batch_loss, progress)
    return model, kwargs


@torch.no_grad()
def predict_views_proba(
    name: str, model: torch.nn.Module, clips: Sequence[np.ndarray], cfg: TrainConfig, batch_size: int = 8
) -> np.ndarray:
    """(n, views + 1, classes) probabilities: each profile's own (Left, Front, Right), then the
    fused Multi-views one."""
    if not isinstance(model, CCDN):
        raise TypeError(f"{name}: predict_views_proba needs a CCDN-family model, got {type(model).__name__}")
    model.eval()
    ds = ViewsDataset(clips, np.zeros((len(clips), 1)), cfg.size or model_config(name).size, train=False, fps=cfg.fps)
    out = []
    for x in input_batches(ds, batch_size):
        v = model.view_logits(x)
        out.append(torch.cat([torch.sigmoid(v), torch.sigmoid(model.fuse(v))[:, None]], 1).numpy())
    if not out:
        return np.zeros((0, 4, 0), np.float32)
    return np.concatenate(out)
