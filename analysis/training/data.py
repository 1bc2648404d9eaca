"""Clips to network input: TIM to a fixed length, resize, random (train) or centre (test) crop."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from analysis.preprocess.crops import center_crop, random_crop, resize_clip
from analysis.preprocess.tim import tim_interpolate


def prepare_clip(clip: np.ndarray, frames: int, size: int, train: bool,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """(T, H, W) uint8 -> (1, frames, size, size) float32 around 0.

    Frames are resized so that the crop covers 112/150 of the face, as the study's random
    112x112 crops of 150x150 aligned faces do.
    """
    clip = np.asarray(clip)
    if clip.ndim == 4:  # colour: the study used grayscale
        clip = clip.mean(axis=3).astype(np.uint8)
    x = tim_interpolate(clip, frames)
    x = resize_clip(x, int(round(size * 150 / 112)))
    x = random_crop(x, size, rng or np.random.default_rng()) if train else center_crop(x, size)
    return (x.astype(np.float32) / 255.0 - 0.5)[None]


class ClipDataset(torch.utils.data.Dataset):
    """Clips with their target rows; ``aux`` holds AU targets for AU-graph."""

    def __init__(self, clips: Sequence[np.ndarray], y: np.ndarray, frames: int, size: int, train: bool,
                 seed: int = 0, aux: np.ndarray | None = None) -> None:
        self.clips, self.y, self.aux = clips, np.asarray(y, np.float32), aux
        self.frames, self.size, self.train = frames, size, train
        self.rng = np.random.default_rng(seed)
        # TIM and resizing are deterministic: do them once; only the crop is random
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.clips)

    def _base(self, i: int) -> np.ndarray:
        if i not in self._cache:
            clip = np.asarray(self.clips[i])
            if clip.ndim == 4:
                clip = clip.mean(axis=3).astype(np.uint8)
            self._cache[i] = resize_clip(tim_interpolate(clip, self.frames), int(round(self.size * 150 / 112)))
        return self._cache[i]

    def __getitem__(self, i: int):
        base = self._base(i)
        x = random_crop(base, self.size, self.rng) if self.train else center_crop(base, self.size)
        x = torch.from_numpy((x.astype(np.float32) / 255.0 - 0.5)[None])
        y = torch.from_numpy(self.y[i])
        if self.aux is not None:
            return x, y, torch.from_numpy(np.asarray(self.aux[i], np.float32))
        return x, y
