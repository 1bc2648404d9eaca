"""Clips to network input: TIM to a fixed length, resize, random (train) or centre (test) crop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mestudio.analysis.preprocess.crops import center_crop, random_crop, resize_clip
from mestudio.analysis.preprocess.magnify import magnify
from mestudio.analysis.preprocess.tim import tim_interpolate


def base_clip(clip: np.ndarray, frames: int, side: int, magnify_alpha: float = 0.0, fps: float = 200.0) -> np.ndarray:
    """Gray, optionally motion-magnified, TIM to ``frames``, resized to ``side``: (frames, side, side) uint8."""
    c = np.asarray(clip)
    if c.ndim == 4:  # colour: the study used grayscale
        c = c.mean(axis=3).astype(np.uint8)
    if magnify_alpha > 0 and len(c) >= 3:
        c = magnify(c, fps, alpha=magnify_alpha, low_hz=0.5, high_hz=min(15.0, fps / 2 - 1e-3))
    return resize_clip(tim_interpolate(c, frames), side)


def to_input(x: np.ndarray, mode: str = "frames") -> np.ndarray:
    """Cropped uint8 frames (T, S, S) -> network input (1, T, S, S) float32 around 0."""
    f = x.astype(np.float32) / 255.0
    if mode == "onset_diff":
        return ((f - f[:1]) * 4.0)[None]  # motion is a few grey levels: scale it up
    return (f - 0.5)[None]


class ClipDataset(torch.utils.data.Dataset):
    """Clips with their target rows; ``aux`` holds AU targets for AU-graph."""

    def __init__(
        self,
        clips: Sequence[np.ndarray],
        y: np.ndarray,
        frames: int,
        size: int,
        train: bool,
        seed: int = 0,
        aux: np.ndarray | None = None,
        mode: str = "frames",
        magnify_alpha: float = 0.0,
        fps: float = 200.0,
    ) -> None:
        self.clips, self.y, self.aux, self.mode = clips, np.asarray(y, np.float32), aux, mode
        self.magnify_alpha, self.fps = magnify_alpha, fps
        self.frames, self.size, self.train = frames, size, train
        self.rng = np.random.default_rng(seed)
        # TIM and resizing are deterministic: do them once; only the crop is random
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.clips)

    def _base(self, i: int) -> np.ndarray:
        if i not in self._cache:
            self._cache[i] = base_clip(
                self.clips[i], self.frames, int(round(self.size * 150 / 112)), self.magnify_alpha, self.fps
            )
        return self._cache[i]

    def __getitem__(self, i: int):
        base = self._base(i)
        clip = random_crop(base, self.size, self.rng) if self.train else center_crop(base, self.size)
        x = torch.from_numpy(to_input(clip, self.mode))
        y = torch.from_numpy(self.y[i])
        if self.aux is not None:
            return x, y, torch.from_numpy(np.asarray(self.aux[i], np.float32))
        return x, y
