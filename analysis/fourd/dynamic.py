"""Approximate rank pooling (Bilen et al., "Dynamic image networks", TPAMI 2018, eq. 8 onwards):
a clip of T frames becomes one "dynamic image", the frames weighted by

    alpha_t = 2 (T - t + 1) - (T + 1) (H_T - H_{t-1}),   H_t = sum_{i<=t} 1/i,  t = 1..T

(the one-step approximation of the rank-SVM that orders the frames in time), applied to the
raw frames as the paper's ARP does. Early frames get negative weights and late ones positive,
so what changes over the clip stands out and what stays cancels (sum_t alpha_t = 0).

Eulerian magnification of the views reuses analysis.preprocess.magnify (one implementation).
"""

from __future__ import annotations

import numpy as np

from mestudio.analysis.preprocess.magnify import magnify


def rank_pool_weights(t: int) -> np.ndarray:
    """alpha_1..alpha_T of approximate rank pooling."""
    if t < 1:
        raise ValueError("rank pooling needs at least one frame")
    h = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, t + 1))])  # H_0..H_T
    i = np.arange(1, t + 1)
    return 2.0 * (t - i + 1) - (t + 1) * (h[t] - h[i - 1])


def rank_pool(frames: np.ndarray) -> np.ndarray:
    """(T, H, W[, C]) frames -> one (H, W[, C]) float32 dynamic image."""
    f = np.asarray(frames, np.float32)
    return np.tensordot(rank_pool_weights(len(f)).astype(np.float32), f, axes=1)


def dynamic_images(frames: np.ndarray, normalize: bool = True) -> np.ndarray:
    """(..., T, H, W) uint8 view sequences -> (..., H, W) float32 dynamic images, each scaled to
    unit peak magnitude when ``normalize`` (a clip with no motion stays 0)."""
    f = np.asarray(frames, np.float32)
    lead, (t, h, w) = f.shape[:-3], f.shape[-3:]
    flat = f.reshape(-1, t, h, w)
    out = np.stack([rank_pool(x) for x in flat]) if len(flat) else np.zeros((0, h, w), np.float32)
    if normalize:
        peak = np.abs(out).reshape(len(out), -1).max(axis=1)
        out = out / np.where(peak > 0, peak, 1.0)[:, None, None]
    return out.reshape(*lead, h, w).astype(np.float32)


def magnify_views(
    frames: np.ndarray, fps: float, alpha: float = 10.0, low_hz: float = 0.5, high_hz: float | None = None
) -> np.ndarray:
    """Eulerian-magnified copy of (..., T, H, W) uint8 view sequences, each sequence on its own."""
    f = np.asarray(frames)
    lead, (t, h, w) = f.shape[:-3], f.shape[-3:]
    if t < 3:
        return f.copy()
    hi = min(high_hz or 15.0, fps / 2 - 1e-3)
    flat = f.reshape(-1, t, h, w)
    out = np.stack([magnify(x, fps, alpha=alpha, low_hz=low_hz, high_hz=hi) for x in flat])
    return out.reshape(*lead, t, h, w)
