"""Similarity alignment of the face to a template and the 150x150 crop by the eyes (as the study).

The template is built from the participant's own face: at acquisition the eye centres are mapped
onto fixed positions of the crop (``EYE_R``, ``EYE_L``) and the rigid landmarks (eye corners, nose
bridge, temples) are recorded in crop coordinates.  Each later frame is fitted to those reference
points by a least-squares similarity (scale, rotation, translation: Umeyama), which averages the
landmark noise over 17 points instead of two and leaves the expression's own motion (brows, lids,
mouth, chin) in the crop.  The reference is rebuilt when the face is re-acquired.
"""

from __future__ import annotations

import cv2
import numpy as np

from mestudio.analysis.face.landmarks import LEFT_EYE, RIGHT_EYE

CROP = 150
EYE_R = (47.0, 55.0)  # person's right eye centre in the crop (image left)
EYE_L = (103.0, 55.0)
# landmarks that expressions hardly move: nose bridge, temples, forehead.  Not the eye corners
# (the mesh moves them when the lids close), the nose tip (AU9/10) or the cheek contour (AU6/12).
RIGID = (168, 6, 197, 195, 5, 4, 1, 127, 356, 234, 454, 10, 151, 9, 8)


def template_points() -> np.ndarray:
    """The crop positions of the two eye centres, (2, 2)."""
    return np.array([EYE_R, EYE_L], np.float64)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity taking points ``src`` (N, 2) onto ``dst`` (N, 2) (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    # complex form of the 2D similarity: z = sum(conj(s) d) / sum(|s|^2)
    zs, zd = s[:, 0] + 1j * s[:, 1], d[:, 0] + 1j * d[:, 1]
    den = float(np.sum(np.abs(zs) ** 2))
    if den < 1e-9:
        raise ValueError("the alignment points coincide; the landmarks are degenerate")
    z = np.sum(np.conj(zs) * zd) / den
    a, b = z.real, z.imag
    t = md - np.array([a * ms[0] - b * ms[1], b * ms[0] + a * ms[1]])
    return np.array([[a, -b, t[0]], [b, a, t[1]]])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points (N, 2+) through the 2x3 transform ``m``; returns (N, 2)."""
    p = np.asarray(pts, np.float64)[:, :2]
    return p @ m[:, :2].T + m[:, 2]


class Aligner:
    """Per-frame similarity to the participant's template and the aligned crop."""

    def __init__(self, size: int = CROP) -> None:
        self.size = size
        self.reference: np.ndarray | None = None  # rigid landmarks in crop coordinates
        self.matrix: np.ndarray | None = None

    def reset(self) -> None:
        self.reference = None

    def fit(self, landmarks: np.ndarray) -> np.ndarray:
        """The 2x3 transform frame -> crop for these landmarks (478, 2+)."""
        scale = self.size / CROP
        if self.reference is None:
            eyes = np.stack([landmarks[list(RIGHT_EYE), :2].mean(0), landmarks[list(LEFT_EYE), :2].mean(0)])
            m = similarity(eyes, template_points() * scale)
            self.reference = apply(m, landmarks[list(RIGID)])
        else:
            m = similarity(landmarks[list(RIGID), :2], self.reference)
        self.matrix = m
        return m

    def crop(self, image: np.ndarray, m: np.ndarray | None = None) -> np.ndarray:
        """The size x size aligned face (same dtype and channels as ``image``)."""
        m = self.matrix if m is None else m
        if m is None:
            raise ValueError("no alignment yet: call fit(landmarks) first")
        return cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
