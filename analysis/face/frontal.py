"""The landmarks with the head's 3D rotation taken out: every frame seen in the acquisition pose.

The 2D alignment (align.py) removes what happens in the image plane (shift, scale, roll), but a
nod or a turn still changes the projected distances the AU measures read: nodding down by 10
degrees shortens the brow-to-eye and nose-to-mouth heights by their depth offsets times
sin(10 deg), which reads as brow lowering or a lip-corner pull.  mediapipe gives every landmark a
depth (z, in x's pixel units), so each frame's rigid points are fitted to the acquisition
frame's in 3D (rotation, one scale, translation: Umeyama) and the whole mesh is moved by that
fit; its x, y are then in the crop's coordinates of the acquisition pose.

The rigid points are the nose bridge and the face's sides by the ears; not the forehead
(frontalis moves its skin with a brow raise), the nose tip (AU9, AU10), the eye corners (the
mesh moves them with the lids) or the cheeks (AU6, AU12).
"""

from __future__ import annotations

import numpy as np

from mestudio.analysis.face.align import apply

RIGID_FRONTAL = (168, 6, 197, 195, 5, 127, 356, 234, 454, 93, 323)


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale s, rotation R, translation t) minimising |s R src_i + t - dst_i| over the rows."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    var = float(np.sum(a * a)) / len(a)
    if var < 1e-9:
        raise ValueError("the rigid points coincide; the landmarks are degenerate")
    u, sv, vt = np.linalg.svd(b.T @ a / len(a))
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1.0
    r = u @ np.diag(d) @ vt
    s = float(np.sum(sv * d)) / var
    return s, r, md - s * r @ ms


class Frontalizer:
    """Each frame's landmarks in the acquisition pose, in crop coordinates; reset on re-acquisition."""

    def __init__(self) -> None:
        self.reference: np.ndarray | None = None  # the rigid points at acquisition, crop x, y, z

    def reset(self) -> None:
        self.reference = None

    def __call__(self, landmarks: np.ndarray, m: np.ndarray) -> np.ndarray:
        """(N, 2) crop coordinates of ``landmarks`` (N, 3; pixels) with the head's rotation since
        acquisition taken out; ``m`` is this frame's 2D alignment (frame -> crop), which sets the
        reference at acquisition."""
        p = np.asarray(landmarks, np.float64)
        if self.reference is None:
            scale = float(np.hypot(m[0, 0], m[1, 0]))
            rig = p[list(RIGID_FRONTAL)]
            self.reference = np.column_stack([apply(m, rig), rig[:, 2] * scale])
        s, r, t = umeyama(p[list(RIGID_FRONTAL), :3], self.reference)
        return (s * p[:, :3] @ r.T + t)[:, :2]
