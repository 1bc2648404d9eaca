"""Head rotation from the face mesh's 3D landmarks, relative to the face as it was acquired.

mediapipe gives every landmark a depth (z, in the same pixel units as x); the rigid points (nose
bridge, temples, eye corners) of a frame are fitted to those of the first frame after acquisition
by a least-squares rotation (Kabsch).  The 2D alignment removes in-plane motion from the crop,
but a nod or a turn still changes the projected heights the AU measures read and moves the
flow spotters' blocks: a movement that turns the head out of the image plane more than
``[analyzer] head_motion_deg`` is the head's, not an expression (``tilt_deg``; a roll is the
alignment's business: on a real clip a frown during a slow 7-degree roll was suppressed).
"""

from __future__ import annotations

import numpy as np

RIGID_3D = (168, 6, 197, 195, 5, 4, 1, 127, 356, 234, 454, 33, 133, 263, 362)


def rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 rotation R minimising |(src - mean) R - (dst - mean)| (points as rows)."""
    a = src - src.mean(axis=0)
    b = dst - dst.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def angle_deg(r1: np.ndarray, r2: np.ndarray | None = None) -> float:
    """The angle of rotation r1 (or of the rotation between r1 and r2), degrees."""
    r = r1 if r2 is None else r1.T @ r2
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def tilt_deg(r1: np.ndarray, r2: np.ndarray | None = None) -> float:
    """How far rotation r1 (or the rotation between r1 and r2) tips the face out of the image
    plane (a nod or a turn), degrees: the angle its view axis moves.  A roll in the image plane
    is not counted: the 2D alignment takes it out of the crop and of every measure."""
    r = r1 if r2 is None else r1.T @ r2
    return float(np.degrees(np.arccos(np.clip(abs(r[2, 2]), 0.0, 1.0))))


class HeadPose:
    """Rotation of each frame's head from the acquisition frame's; reset on re-acquisition."""

    def __init__(self) -> None:
        self._ref: np.ndarray | None = None

    def reset(self) -> None:
        self._ref = None

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        p = np.asarray(landmarks, np.float64)[list(RIGID_3D), :3]
        if self._ref is None:
            self._ref = p
        return rotation(p, self._ref)
