"""Where the face is in the photograph, and how each action unit moves it.

The photograph is scikit-image's ``astronaut`` (512x512, bundled with the package).  The
landmarks were measured once with MediaPipe Face Mesh on that image (indices in comments) and
are written here so that rendering needs no model.  Coordinates are source-image pixels.

Each AU is a few Gaussian "blobs": skin around ``centre`` moves by ``shift`` (source pixels at
intensity 1; a 640x480 view magnifies by 2.5, so 2 px here is 5 px on screen), fading with
``sigma``.  Directions follow FACS: AU1 raises the inner brows, AU4 pulls the brows down and
together, AU12 pulls the lip corners up and out, AU45 closes the eyelids ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Landmarks (x, y) in source pixels; r_ = the person's right (image left).
LANDMARKS: dict[str, tuple[float, float]] = {
    "r_brow_in": (215.9, 89.8),  # 107
    "r_brow_mid": (198.8, 86.9),  # 105
    "r_brow_out": (188.1, 91.1),  # 70
    "l_brow_in": (235.8, 91.5),  # 336
    "l_brow_mid": (253.0, 90.7),  # 334
    "l_brow_out": (262.8, 96.0),  # 300
    "glabella": (225.4, 90.5),  # 9
    "r_eye": (203.5, 101.1),  # 468 (iris)
    "l_eye": (246.6, 103.5),  # 473 (iris)
    "r_lid_low": (203.4, 104.3),  # 145
    "l_lid_low": (246.6, 106.7),  # 374
    "r_lid_up": (202.8, 97.6),  # 159
    "l_lid_up": (248.3, 99.7),  # 386
    "r_cheek": (194.9, 124.6),  # 205
    "l_cheek": (253.2, 128.0),  # 425
    "nose_tip": (223.4, 130.0),  # 1
    "r_mouth": (201.8, 139.2),  # 61
    "l_mouth": (245.0, 141.0),  # 291
    "lower_lip": (222.7, 152.0),  # 17/14
    "chin": (221.3, 170.0),  # 152 (raised a little: the chin boss, not its edge)
}
FACE_CENTRE = (224.0, 120.0)
HEAD_AXES = (72.0, 92.0)  # half-widths of the head (hair included) ellipse
SOURCE_WIDTH_SHOWN = 256.0  # a view shows this many source pixels across


@dataclass(frozen=True)
class Blob:
    centre: tuple[float, float]
    sigma: tuple[float, float]
    shift: tuple[float, float]


def _pair(name: str, sigma: tuple[float, float], shift_r: tuple[float, float], mirror_x: bool = True) -> list[Blob]:
    """The same movement on both sides of the face (x mirrored for the left side)."""
    sx, sy = shift_r
    return [
        Blob(LANDMARKS["r_" + name], sigma, (sx, sy)),
        Blob(LANDMARKS["l_" + name], sigma, (-sx if mirror_x else sx, sy)),
    ]


AU_BLOBS: dict[int, list[Blob]] = {
    1: _pair("brow_in", (6, 5), (0.3, -2.2)),  # inner brow raiser
    2: _pair("brow_out", (7, 5), (0.0, -2.2)) + _pair("brow_mid", (6, 5), (0.0, -1.2)),  # outer brow
    4: _pair("brow_in", (6, 5), (1.3, 1.6)) + [Blob(LANDMARKS["glabella"], (4, 5), (0.0, 0.8))],
    6: _pair("cheek", (9, 8), (-0.4, -1.8)) + _pair("lid_low", (6, 3), (0.0, -0.8)),  # cheek raiser
    7: _pair("lid_low", (6, 3), (0.0, -1.3)) + _pair("lid_up", (6, 3), (0.0, 0.6)),  # lid tightener
    12: _pair("mouth", (6, 6), (-1.6, -1.8)),  # lip corner puller: up and out
    14: _pair("mouth", (5, 5), (1.3, -0.3)),  # dimpler: corners in and back
    15: _pair("mouth", (6, 6), (-0.2, 2.2)),  # lip corner depressor
    17: [Blob(LANDMARKS["chin"], (12, 8), (0.0, -2.2)), Blob(LANDMARKS["lower_lip"], (9, 4), (0.0, -1.2))],
    # blink: the upper lid slides down over the eye and the lower lid up a little; the sigmas keep
    # the warp from folding (slope of each blob < 1)
    45: [Blob((x, y - 1.0), (7, 5), (0.0, 6.0)) for x, y in (LANDMARKS["r_eye"], LANDMARKS["l_eye"])]
    + [Blob((x, y + 1.5), (7, 2.5), (0.0, -2.0)) for x, y in (LANDMARKS["r_lid_low"], LANDMARKS["l_lid_low"])],
}


def displacement(blobs: list[Blob], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward displacement (dx, dy) of the skin at source points (x, y)."""
    dx = np.zeros_like(x, dtype=np.float32)
    dy = np.zeros_like(x, dtype=np.float32)
    for b in blobs:
        g = np.exp(-0.5 * (((x - b.centre[0]) / b.sigma[0]) ** 2 + ((y - b.centre[1]) / b.sigma[1]) ** 2))
        dx += b.shift[0] * g
        dy += b.shift[1] * g
    return dx, dy


def head_weight(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 on the head, 0 on the background, soft in between: head motion moves only the head."""
    cx, cy = FACE_CENTRE
    r = np.sqrt(((x - cx) / HEAD_AXES[0]) ** 2 + ((y - cy) / HEAD_AXES[1]) ** 2)
    return np.clip((1.25 - r) / 0.35, 0.0, 1.0).astype(np.float32)


def face_relief(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height of the face towards the camera in source pixels (0 = the background plane's depth
    offset is handled by depth.py): an ellipsoid head with a nose and eye sockets."""
    cx, cy = FACE_CENTRE
    ax, ay = HEAD_AXES
    r2 = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2
    head = 55.0 * np.sqrt(np.clip(1.0 - r2, 0.0, None))
    nx, ny = LANDMARKS["nose_tip"]
    nose = 16.0 * np.exp(-0.5 * (((x - nx) / 6.0) ** 2 + ((y - ny + 8) / 14.0) ** 2))
    sockets = sum(
        -5.0 * np.exp(-0.5 * (((x - ex) / 9.0) ** 2 + ((y - ey) / 6.0) ** 2))
        for ex, ey in (LANDMARKS["r_eye"], LANDMARKS["l_eye"])
    )
    return (head + (nose + sockets) * (r2 < 1.0)).astype(np.float32)
