"""What the experimenter's monitor draws over the face camera: a light subset of the landmarks
and boxes around the regions the AUs are read from (mediapipe face-mesh indices)."""

from __future__ import annotations

import numpy as np

# the regions AUs move: brows (AU1, 2, 4), eyes (AU6, 7, 45), mouth (AU12, 14, 15, 17)
REGIONS: dict[str, tuple[int, ...]] = {
    "brow_r": (70, 63, 105, 66, 107),
    "brow_l": (336, 296, 334, 293, 300),
    "eye_r": (33, 160, 158, 133, 153, 144),
    "eye_l": (362, 385, 387, 263, 373, 380),
    "mouth": (61, 291, 0, 17, 13, 14, 37, 267, 84, 314),
}
LANDMARK_STEP = 4  # every 4th of 478 points: the face's shape at a tenth of the bytes
MARGIN_PX = 4.0


def overlay(landmarks: np.ndarray) -> dict:
    """{"landmarks": [[x, y], ...], "rois": {name: [x, y, w, h]}} in full-frame pixels."""
    xy = np.asarray(landmarks, np.float32)[:, :2]
    rois = {}
    for name, idx in REGIONS.items():
        p = xy[list(idx)]
        lo, hi = p.min(axis=0) - MARGIN_PX, p.max(axis=0) + MARGIN_PX
        rois[name] = [round(float(v), 1) for v in (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])]
    return {"landmarks": np.round(xy[::LANDMARK_STEP], 1).tolist(), "rois": rois}
