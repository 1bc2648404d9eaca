"""Learnt AU models plugged into the analyzer through the model registry (analysis.models).

A checkpoint written by `mestudio train` (analysis.training.checkpoint) names its model, the
arguments to build it with `create_model`, its task and labels.  The analyzer feeds it the
spotted interval's aligned crops, resampled to the model's clip length and size, and reads a
multi-label sigmoid output (AU task).  When the registry or torch is missing, or the checkpoint
does not load, ``load_learnt_au_model`` raises LearntModelUnavailableError with what to do; the
analyzer then reports that once and keeps the training-free landmark estimator.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from analysis.analyzer.errors import LearntModelUnavailableError
from analysis.emotion.table import parse_aus


class LearntAUModel:
    """A registry model with its checkpoint: crops of one interval -> AUs."""

    def __init__(self, model, meta: dict, frames: int, size: int, threshold: float = 0.5) -> None:
        self.model, self.meta = model, meta
        self.frames, self.size, self.threshold = frames, size, threshold
        labels = meta.get("au_labels") or meta.get("labels") or []
        self.aus = parse_aus(labels)
        if len(self.aus) != len(labels):
            raise LearntModelUnavailableError(f"checkpoint labels {labels} are not AU codes; "
                                              "configure an AU-task checkpoint as [analyzer] au_checkpoint")

    def predict(self, crops: list[np.ndarray]) -> tuple[list[int], dict[int, float]]:
        import torch
        idx = np.linspace(0, len(crops) - 1, self.frames).round().astype(int)
        clip = np.stack([cv2.resize(crops[i], (self.size, self.size), interpolation=cv2.INTER_AREA)
                         for i in idx]).astype(np.float32) / 255.0
        x = torch.from_numpy(clip)[None, None]  # (1, 1, T, H, W)
        with torch.no_grad():
            out = self.model(x)
        prob = torch.sigmoid(out if isinstance(out, torch.Tensor) else out[0]).reshape(-1).numpy()
        present = [a for a, p in zip(self.aus, prob) if p >= self.threshold]
        return present, {a: round(float(p), 3) for a, p in zip(self.aus, prob)}


def load_learnt_au_model(name: str, checkpoint: str | Path | None) -> LearntAUModel:
    """The configured model, or LearntModelUnavailableError saying what is missing."""
    if not checkpoint:
        raise LearntModelUnavailableError(f"[analyzer] au_model = {name!r} needs au_checkpoint = PATH "
                                          "(a checkpoint from `mestudio train`)")
    try:
        from analysis.models.registry import model_config
        from analysis.training.checkpoint import load_checkpoint
    except ImportError as e:
        raise LearntModelUnavailableError(
            f"learnt AU model {name!r}: the model registry is not available ({e}); "
            "install the analysis extras: pip install 'mestudio[analysis]'") from None
    try:
        model, meta = load_checkpoint(checkpoint)
        cfg = model_config(meta.get("model", name))
    except Exception as e:  # a checkpoint error names the file and what to do
        raise LearntModelUnavailableError(f"learnt AU model {name!r}: {e}") from None
    if meta.get("model") != name:
        raise LearntModelUnavailableError(f"{checkpoint}: holds model {meta.get('model')!r}, not {name!r}; "
                                          "set [analyzer] au_model to match")
    return LearntAUModel(model, meta, cfg.frames, cfg.size)
