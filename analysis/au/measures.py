"""Facial measures from aligned landmarks: what each AU changes, in crop pixels.

Landmarks are mediapipe face-mesh indices, already mapped into the 150x150 crop (eyes 56 px
apart, so one pixel is about 1.1 mm of face).  Every measure grows in the direction its AU moves
(see ``AU_RULES`` in estimator.py).  Heights are measured from the crop's eye line (y = 55),
which the alignment to rigid points (nose, temples, forehead) holds fixed: not from the eye
landmarks themselves, which move when the lids do.
"""

from __future__ import annotations

import numpy as np

from mestudio.analysis.face.align import EYE_L, EYE_R

EYE_LINE = (EYE_R[1] + EYE_L[1]) / 2

# (person's right, person's left) landmark index pairs
BROW_INNER = (107, 336)
BROW_OUTER = (70, 300)
LID_UP = (159, 386)
LID_LOW = (145, 374)
CHEEK = (205, 425)
MOUTH_CORNER = (61, 291)
EYE_CORNERS = ((33, 133), (263, 362))
NOSE_ALA = (64, 294)
LIP_TOP_OUT, LIP_TOP_IN, LIP_BOT_IN, LIP_BOT_OUT, CHIN = 0, 13, 14, 17, 152

MEASURES = (
    "inner_brow_height",
    "outer_brow_height",
    "brow_gap",
    "eye_open",
    "upper_lid_height",
    "lower_lid_height",
    "cheek_height",
    "nose_ala_height",
    "upper_lip_height",
    "corner_height",
    "mouth_width",
    "lips_apart",
    "lip_thickness",
    "chin_height",
)


def measures(p: np.ndarray) -> np.ndarray:
    """One vector of ``MEASURES`` from (478, 2) aligned landmarks."""
    y = p[:, 1]
    eye_line = EYE_LINE
    pair_h = lambda idx: float(np.mean(eye_line - y[list(idx)]))  # noqa: E731  height above the eye line
    # brows against their own eye's corners: a strong smile shifts the mesh's upper face a little
    # and must not read as a brow lowering (a blink moves the corners, but blinks keep no other AU)
    corners = np.array([y[list(EYE_CORNERS[0])].mean(), y[list(EYE_CORNERS[1])].mean()])
    brow_h = lambda idx: float(np.mean(corners - y[list(idx)]))  # noqa: E731
    return np.array(
        [
            brow_h(BROW_INNER),
            brow_h(BROW_OUTER),
            float(abs(p[BROW_INNER[1], 0] - p[BROW_INNER[0], 0])),
            float(np.mean(y[list(LID_LOW)] - y[list(LID_UP)])),
            pair_h(LID_UP),
            pair_h(LID_LOW),
            pair_h(CHEEK),
            pair_h(NOSE_ALA),
            float(eye_line - y[LIP_TOP_OUT]),
            pair_h(MOUTH_CORNER),
            float(np.linalg.norm(p[MOUTH_CORNER[1]] - p[MOUTH_CORNER[0]])),
            float(y[LIP_BOT_IN] - y[LIP_TOP_IN]),
            float((y[LIP_TOP_IN] - y[LIP_TOP_OUT]) + (y[LIP_BOT_OUT] - y[LIP_BOT_IN])),
            float(eye_line - y[CHIN]),
        ],
        np.float32,
    )
