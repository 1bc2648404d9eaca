"""Spatial crops of (T, H, W[, C]) clips: random for training (the study's 112x112), centred for testing."""

from __future__ import annotations

import numpy as np


def _check(clip: np.ndarray, size: int) -> None:
    h, w = clip.shape[1:3]
    if h < size or w < size:
        raise ValueError(f"clip frames {h}x{w} are smaller than the {size}x{size} crop; resize first")


def random_crop(clip: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """The same random ``size`` x ``size`` window in every frame."""
    _check(clip, size)
    h, w = clip.shape[1:3]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return clip[:, y : y + size, x : x + size]


def center_crop(clip: np.ndarray, size: int) -> np.ndarray:
    _check(clip, size)
    h, w = clip.shape[1:3]
    y, x = (h - size) // 2, (w - size) // 2
    return clip[:, y : y + size, x : x + size]


def resize_clip(clip: np.ndarray, size: int) -> np.ndarray:
    """Every frame resized to ``size`` x ``size`` (area interpolation when shrinking)."""
    import cv2

    if clip.shape[1] == size and clip.shape[2] == size:
        return clip
    interp = cv2.INTER_AREA if clip.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(np.ascontiguousarray(f), (size, size), interpolation=interp) for f in clip])
