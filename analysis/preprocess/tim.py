"""Temporal Interpolation Model (TIM; Zhou et al. 2011, used for MEs by Pfister et al. 2011).

A clip of n frames is a path graph: frame t is joined to t-1 and t+1. The path graph's Laplacian
has eigenvectors that are samples of the curves

    y_k(t) = sin(pi * k * t + pi * (n - k) / (2 n)),   k = 1..n-1,  t in [1/n, 1]

at t = 1/n, 2/n, ..., 1. The mean-removed frames, projected on their principal subspace
(rank <= n-1), are mapped linearly onto these curves; sampling the curves at any number of
points in [1/n, 1] and mapping back gives new frames on the clip's low-dimensional manifold.
At the original points it reproduces the input exactly.
"""

from __future__ import annotations

import numpy as np


def _curves(n: int, t: np.ndarray) -> np.ndarray:
    """(n-1, len(t)) graph-embedding curves of an n-node path graph at times ``t``."""
    k = np.arange(1, n)[:, None]
    return np.sin(np.pi * k * t[None, :] + np.pi * (n - k) / (2 * n))


def tim_interpolate(clip: np.ndarray, length: int = 10) -> np.ndarray:
    """Resample ``clip`` (T, ...) to ``length`` frames with TIM; dtype kept (uint8 clipped)."""
    clip = np.asarray(clip)
    n = clip.shape[0]
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if n == 0:
        raise ValueError("empty clip: TIM needs at least one frame")
    if n == 1:
        return np.repeat(clip, length, axis=0)
    x = clip.reshape(n, -1).astype(np.float64)
    mu = x.mean(axis=0)
    xc = x - mu
    # principal subspace through the small (n x n) Gram matrix: D is large, n is small
    gram = xc @ xc.T
    evals, evecs = np.linalg.eigh(gram)
    keep = evals > evals.max() * 1e-12 if evals.max() > 0 else np.zeros_like(evals, bool)
    if not keep.any():  # a still clip: every frame equals the mean
        return np.repeat(clip[:1], length, axis=0)
    evecs, evals = evecs[:, keep], evals[keep]
    proj = xc.T @ evecs / np.sqrt(evals)  # (D, r) orthonormal basis U
    coords = proj.T @ xc.T  # (r, n) frames in the subspace
    y = _curves(n, np.arange(1, n + 1) / n)  # (n-1, n)
    m = coords @ np.linalg.pinv(y)  # coords = M y
    t_new = np.linspace(1.0 / n, 1.0, length)
    x_new = (proj @ (m @ _curves(n, t_new))).T + mu  # (length, D)
    out = x_new.reshape((length,) + clip.shape[1:])
    if np.issubdtype(clip.dtype, np.integer):
        info = np.iinfo(clip.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(clip.dtype)
    return out.astype(clip.dtype)
