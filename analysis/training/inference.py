"""A trained checkpoint as a clip classifier, for the analyzer and for scripts.

clf = ClipClassifier.load("au_graph_tiny-emotion")        # shipped name or a .pt path
clf.predict_proba(clip)  # {"Positive": 0.8, ...} for a (T, H, W) uint8 face clip
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mestudio.analysis.training.checkpoint import load_checkpoint
from mestudio.analysis.training.config import TrainConfig
from mestudio.analysis.training.loop import predict_proba


class ClipClassifier:
    def __init__(self, model: Any, meta: dict) -> None:
        self.model, self.meta = model, meta
        self.name: str = meta["model"]
        self.task: str = meta["task"]
        self.labels: list[str] = list(meta["labels"])
        known = TrainConfig.__dataclass_fields__
        self.config = TrainConfig(**{k: v for k, v in meta.get("config", {}).items() if k in known})
        self.config.device = "cpu"

    @classmethod
    def load(cls, name_or_path: str | Path) -> ClipClassifier:
        from mestudio.analysis.weights import shipped_path

        return cls(*load_checkpoint(shipped_path(name_or_path)))

    def predict_proba_batch(self, clips: list[np.ndarray]) -> np.ndarray:
        """(n, labels) probabilities of aligned face clips, each (T, H, W) uint8."""
        return predict_proba(self.name, self.model, clips, self.config)

    def predict_proba(self, clip: np.ndarray) -> dict[str, float]:
        p = self.predict_proba_batch([clip])[0]
        return {lab: float(v) for lab, v in zip(self.labels, p)}

    def predict(self, clip: np.ndarray) -> list[str]:
        """Labels whose probability is above the checkpoint's threshold."""
        return [k for k, v in self.predict_proba(clip).items() if v > self.config.threshold]
