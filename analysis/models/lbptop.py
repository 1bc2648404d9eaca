"""LBP-TOP features (Zhao & Pietikainen 2007) with a one-vs-rest linear SVM, the study's approach 1.

The clip (T, H, W) is divided into 5x5 blocks; in each block, uniform LBP codes (8 neighbours)
are histogrammed on the three orthogonal planes XY, XT and YT with radii (X, Y, T) = (1, 1, 2);
the 25 x 3 histograms (59 bins each) are concatenated. One linear SVM per class, C = 1000.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from mestudio.analysis.models.registry import ModelConfig, register_model

P = 8


def _uniform_lut(p: int = P) -> np.ndarray:
    """Code -> bin: each uniform pattern (<= 2 transitions) its own bin, all others the last bin."""
    lut = np.empty(1 << p, np.int64)
    nxt = 0
    for code in range(1 << p):
        bits = [(code >> i) & 1 for i in range(p)]
        transitions = sum(bits[i] != bits[(i + 1) % p] for i in range(p))
        if transitions <= 2:
            lut[code] = nxt
            nxt += 1
        else:
            lut[code] = -1
    lut[lut < 0] = nxt
    return lut


LUT = _uniform_lut()
BINS = int(LUT.max()) + 1  # 59 for 8 neighbours


def _shifted(v: np.ndarray, margin: tuple[int, int, int], d: tuple[float, float, float]) -> np.ndarray:
    """``v`` sampled at the valid grid shifted by the fractional offset ``d`` (t, y, x); trilinear."""
    (mt, my, mx), shape = margin, v.shape
    out = np.zeros((shape[0] - 2 * mt, shape[1] - 2 * my, shape[2] - 2 * mx), np.float64)
    base = [int(np.floor(x)) for x in d]
    frac = [x - b for x, b in zip(d, base)]
    for ct in (0, 1):
        for cy in (0, 1):
            for cx in (0, 1):
                w = (
                    (frac[0] if ct else 1 - frac[0])
                    * (frac[1] if cy else 1 - frac[1])
                    * (frac[2] if cx else 1 - frac[2])
                )
                if w < 1e-9:
                    continue
                t0, y0, x0 = mt + base[0] + ct, my + base[1] + cy, mx + base[2] + cx
                out += w * v[t0 : t0 + out.shape[0], y0 : y0 + out.shape[1], x0 : x0 + out.shape[2]]
    return out


def lbp_top_codes(clip: np.ndarray, radii: tuple[int, int, int] = (1, 1, 2)) -> list[np.ndarray]:
    """Uniform-LBP bins on the XY, XT, YT planes over the valid (T', H', W') region."""
    rx, ry, rt = radii
    v = np.asarray(clip, np.float64)
    if v.shape[0] < 2 * rt + 1 or v.shape[1] < 2 * ry + 3 or v.shape[2] < 2 * rx + 3:
        raise ValueError(f"clip {v.shape} too small for LBP-TOP radii {radii}; interpolate to >= {2 * rt + 1} frames")
    margin = (rt, ry, rx)
    center = v[rt : v.shape[0] - rt, ry : v.shape[1] - ry, rx : v.shape[2] - rx]
    planes = []
    angles = 2 * np.pi * np.arange(P) / P
    for plane in ("xy", "xt", "yt"):
        code = np.zeros(center.shape, np.int64)
        for i, a in enumerate(angles):
            c, s = float(np.cos(a)), float(-np.sin(a))
            c, s = (0.0 if abs(c) < 1e-12 else c), (0.0 if abs(s) < 1e-12 else s)
            d = {"xy": (0.0, ry * s, rx * c), "xt": (rt * s, 0.0, rx * c), "yt": (rt * s, ry * c, 0.0)}[plane]
            code |= (_shifted(v, margin, d) >= center - 1e-9).astype(np.int64) << i
        planes.append(LUT[code])
    return planes


def lbp_top_features(clip: np.ndarray, blocks: int = 5, radii: tuple[int, int, int] = (1, 1, 2)) -> np.ndarray:
    """Concatenated per-block, per-plane normalised histograms: blocks*blocks*3*59 values."""
    planes = lbp_top_codes(clip, radii)
    _, h, w = planes[0].shape
    ys = np.linspace(0, h, blocks + 1).astype(int)
    xs = np.linspace(0, w, blocks + 1).astype(int)
    feats = []
    for by in range(blocks):
        for bx in range(blocks):
            for codes in planes:
                cell = codes[:, ys[by] : ys[by + 1], xs[bx] : xs[bx + 1]].ravel()
                hist = np.bincount(cell, minlength=BINS).astype(np.float32)
                feats.append(hist / max(1.0, hist.sum()))
    return np.concatenate(feats)


class LbpTopSvm:
    """LBP-TOP + one linear SVM per class (one-vs-rest, multi-label binary)."""

    def __init__(
        self,
        num_classes: int = 5,
        blocks: int = 5,
        radii: Sequence[int] = (1, 1, 2),
        C: float = 1000.0,
        max_iter: int = 20000,
    ) -> None:
        self.num_classes, self.blocks, self.radii = num_classes, blocks, tuple(radii)
        self.C, self.max_iter = C, max_iter
        self.coef = np.zeros((num_classes, blocks * blocks * 3 * BINS), np.float32)
        self.intercept = np.zeros(num_classes, np.float32)
        self.unconverged: list[int] = []  # classes whose SVM hit max_iter in the last fit

    def features(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([lbp_top_features(c, self.blocks, self.radii) for c in clips])  # type: ignore[arg-type]

    def fit(self, clips: Sequence[np.ndarray], y: np.ndarray, seed: int = 0) -> LbpTopSvm:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.svm import LinearSVC

        x = self.features(clips)
        y = np.asarray(y)
        self.unconverged = []
        for j in range(self.num_classes):
            col = y[:, j].astype(int)
            if col.min() == col.max():  # one class only in training: constant decision
                self.coef[j] = 0.0
                self.intercept[j] = 1.0 if col[0] else -1.0
                continue
            svm = LinearSVC(C=self.C, max_iter=self.max_iter, random_state=seed, dual="auto")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                svm.fit(x, col)
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                self.unconverged.append(j)
            self.coef[j], self.intercept[j] = svm.coef_[0], svm.intercept_[0]
        if self.unconverged:
            # one line per run (same text each time: Python shows it once), not one per SVM
            warnings.warn(
                f"LBP-TOP SVM (C={self.C:g}, the study's) stopped at {self.max_iter} iterations "
                f"before converging for some classes; its margins are approximate",
                RuntimeWarning,
                stacklevel=2,
            )
        return self

    def decision_function(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        return self.features(clips) @ self.coef.T + self.intercept

    def predict(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        return (self.decision_function(clips) > 0).astype(np.uint8)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"coef": torch.from_numpy(self.coef.copy()), "intercept": torch.from_numpy(self.intercept.copy())}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        coef = state["coef"].numpy()
        if coef.shape != self.coef.shape:
            raise ValueError(f"SVM weights {tuple(coef.shape)} do not fit this model {self.coef.shape}")
        self.coef, self.intercept = coef.astype(np.float32), state["intercept"].numpy().astype(np.float32)


@register_model(
    ModelConfig(
        "lbptop_svm",
        "lbptop",
        "LBP-TOP (5x5 blocks, radii 1,1,2, 8 neighbours) + linear SVM C=1000",
        size=150,
        trainable="svm",
    )
)
def lbptop_svm(num_classes: int = 5, **kw) -> LbpTopSvm:
    return LbpTopSvm(num_classes, blocks=5, **kw)


@register_model(
    ModelConfig(
        "lbptop_svm_tiny",
        "lbptop",
        "LBP-TOP on 3x3 blocks of 64x64 frames + linear SVM C=1000",
        size=64,
        small=True,
        trainable="svm",
    )
)
def lbptop_svm_tiny(num_classes: int = 5, **kw) -> LbpTopSvm:
    return LbpTopSvm(num_classes, blocks=3, **kw)
