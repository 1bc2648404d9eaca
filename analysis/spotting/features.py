"""Per-frame features of the two spotting methods, on aligned face crops.

* MDMD, main directional maximal difference (Wang et al. 2017; the MEGC 2020 spotting baseline):
  for the current frame CF, head frame HF = CF - k and tail frame TF = CF + k, optical flow
  HF->CF and HF->TF; in each block the main direction is the quarter of the circle holding most
  HF->CF vectors; the block's value is the mean of the largest third of HF->CF magnitudes in that
  direction minus the same for HF->TF.  A movement that peaks at CF and has settled by TF scores
  high; slow drift (present in both) cancels.  Frame score: mean of the largest third of blocks.
* LBP chi-squared feature difference (Moilanen et al. 2014; the MEGC 2019 baseline): uniform LBP
  histograms per block; F(CF) = mean of the largest third of the blocks' chi-squared distances
  between CF and the average of HF and TF; contrast C(CF) = F(CF) - (F(CF-k) + F(CF+k)) / 2.

Both give per-block values; the spotter (spotters.py) scales each block by its own quiet-time
spread before taking the largest blocks, so that a movement confined to a few blocks (one AU) is
not drowned by blocks that are merely noisy (hair, background, sensor noise).

Global motion left after alignment is removed from each flow (its median), as the MEGC baseline
does with the nose region.
"""

from __future__ import annotations

import cv2
import numpy as np

GRID = 6  # blocks per side, as the MEGC baselines


def block_ids(size: int, grid: int = GRID) -> np.ndarray:
    """(size, size) int array: the block index of every pixel."""
    edges = np.minimum(np.arange(size) * grid // size, grid - 1)
    return edges[:, None] * grid + edges[None, :]


def top_mean(values: np.ndarray, fraction: float = 1 / 3, axis: int = -1) -> np.ndarray:
    """Mean of the largest ``fraction`` of ``values`` along ``axis``."""
    n = values.shape[axis]
    m = max(1, int(round(n * fraction)))
    part = np.partition(values, n - m, axis=axis)
    return np.take(part, np.arange(n - m, n), axis=axis).mean(axis=axis)


def flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense optical flow a -> b (Farneback, one level: the crops are small and motions are
    sub-pixel to a few pixels) with the global motion (its median) removed."""
    f = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 1, 9, 2, 5, 1.1, 0)
    f -= _median_xy(f)
    return f


def _median_xy(f: np.ndarray) -> np.ndarray:
    """np.median(f.reshape(-1, 2), axis=0), the same values at a quarter of its cost (numpy's
    median along an axis of an interleaved array copies and sorts more than it needs)."""
    t = f.reshape(-1, 2).T.copy()
    h = t.shape[1] // 2
    if t.shape[1] % 2:
        t.partition(h, axis=1)
        return t[:, h]
    t.partition((h - 1, h), axis=1)
    return (t[:, h - 1] + t[:, h]) * np.float32(0.5)


class MDMDFeature:
    """Block-wise main-directional magnitudes of a flow pair (size must be a multiple of grid)."""

    def __init__(self, size: int, grid: int = GRID) -> None:
        if size % grid:
            raise ValueError(f"MDMD crop size {size} is not a multiple of the {grid}x{grid} block grid")
        self.grid, self.cell, self.nb = grid, size // grid, grid * grid

    def _polar(self, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g, c = self.grid, self.cell
        # (size, size, 2) -> (blocks, pixels per block, 2) without a gather
        f = flow.reshape(g, c, g, c, 2).transpose(0, 2, 1, 3, 4).reshape(self.nb, c * c, 2)
        fx, fy = f[..., 0], f[..., 1]
        mag = np.sqrt(fx * fx + fy * fy)
        # quarter of the circle centred on each axis: 0 right, 1 down, 2 left, 3 up (image axes)
        horizontal = np.abs(fx) >= np.abs(fy)
        quad = np.where(horizontal, np.where(fx >= 0, 0, 2), np.where(fy >= 0, 1, 3)).astype(np.int8)
        return mag, quad

    def blocks(self, flow_cf: np.ndarray, flow_tf: np.ndarray) -> np.ndarray:
        """Per-block main-directional maximal difference, (nb,)."""
        mag_c, quad_c = self._polar(flow_cf)
        mag_t, quad_t = self._polar(flow_tf)
        counts = np.stack([(quad_c == q).sum(1) for q in range(4)], axis=1)
        main = counts.argmax(1).astype(np.int8)[:, None]
        in_c = np.where(quad_c == main, mag_c, 0.0)
        in_t = np.where(quad_t == main, mag_t, 0.0)
        return top_mean(in_c, axis=1) - top_mean(in_t, axis=1)


def _uniform_lut() -> np.ndarray:
    """8-bit LBP code -> one of 59 uniform-pattern bins (58 uniform patterns + 1 for the rest)."""
    lut = np.full(256, 58, np.int64)
    nxt = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            lut[code] = nxt
            nxt += 1
    return lut


_LUT = _uniform_lut()
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


class LBPFeature:
    """Uniform LBP (8 neighbours, radius 1) histograms in GRID x GRID blocks, normalised."""

    bins = 59

    def __init__(self, size: int, grid: int = GRID) -> None:
        inner = size - 2
        self.nb = grid * grid
        self.index = (block_ids(inner, grid) * self.bins).ravel()

    def __call__(self, img: np.ndarray) -> np.ndarray:
        c = img[1:-1, 1:-1]
        code = np.zeros(c.shape, np.uint8)
        h, w = img.shape
        for bit, (dy, dx) in enumerate(_NEIGHBOURS):
            code |= (img[1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx] >= c).astype(np.uint8) << bit
        hist = np.bincount(self.index + _LUT[code.ravel()], minlength=self.nb * self.bins)
        hist = hist.reshape(self.nb, self.bins).astype(np.float32)
        return hist / hist.sum(1, keepdims=True)


def chi2_blocks(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Chi-squared distance per block between (nb, bins) histograms."""
    s = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(s > 0, (a - b) ** 2 / s, 0.0)
    return t.sum(1)
