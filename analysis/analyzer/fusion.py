"""Spotting fusion: a flow candidate under the flow's own bar is an event when the per-frame AU
streams of the face region it moved in agree (``[analyzer] fusion = "au"``).

Two cues measured differently (dense optical flow over a block of the crop; the AU measures:
brow profiles matched in the image, landmark distances) agreeing at the same time and place is
the justification.  A weak interval (its flow score passed ``fusion_flow_f * z_high`` robust SDs
of the quiet score, not ``z_high``) carries the blocks that scored highest at its apex; the AUs
whose landmarks lie in those blocks are the ones asked.  One of them must rise and fall within
the flow's reach (the interval widened by the scale's k each side: the flow scores frame i from
frames i - k to i + k): its change from the neutral face (3-frame median, so one frame's jump of
the mesh is not a movement), from the first frame up to its peak and from the peak down to the
last frame, each at least ``fusion_au_k`` of that AU's own quiet-time spread (1.4826 MAD over
the neutral frames, analysis/au/intensity.py), its peak inside the flow interval itself (the
same time).  Blinks (AU45) do not confirm, and nothing confirms where the eyes blink within the
reach: a blink is not an expression, and it drags the lids' and brows' measures with it.
"""

from __future__ import annotations

import math

import numpy as np

from mestudio.analysis.au.intensity import FRAME_AUS, PX_PER_STEP
from mestudio.analysis.au.measures import (
    BROW_INNER,
    BROW_OUTER,
    BROW_ROW_OUTER,
    CHEEK,
    CHIN,
    LID_LOW,
    LID_UP,
    LIP_BOT_IN,
    LIP_BOT_OUT,
    LIP_TOP_IN,
    LIP_TOP_OUT,
    MOUTH_CORNER,
    NOSE_ALA,
)
from mestudio.analysis.face.align import CROP
from mestudio.analysis.spotting.features import GRID

LIPS = (LIP_TOP_OUT, LIP_TOP_IN, LIP_BOT_IN, LIP_BOT_OUT)
# each AU's landmarks: where on the face its movement shows
AU_POINTS: dict[int, tuple[int, ...]] = {
    1: BROW_INNER,
    2: BROW_ROW_OUTER + BROW_OUTER,
    4: BROW_INNER + (55, 285),
    5: LID_UP,
    6: CHEEK + LID_LOW,
    7: LID_LOW,
    9: NOSE_ALA,
    10: NOSE_ALA + (LIP_TOP_OUT,),
    12: MOUTH_CORNER,
    14: MOUTH_CORNER,
    15: MOUTH_CORNER,
    17: (CHIN, LIP_BOT_OUT),
    20: MOUTH_CORNER,
    24: LIPS,
    25: LIPS,
    26: (CHIN, LIP_BOT_OUT),
}
NOT_CONFIRMING = frozenset({45})  # a blink is not an expression
SMOOTH = 3  # frames of the running median over each AU's change
# the spread of an AU is at least a tenth of an intensity step (the columns' resolution): a
# measure that did not move at all in the neutral frames must not make any movement "k sigma"
MIN_SPREAD_STEPS = 0.1
_COL = {a: i for i, a in enumerate(FRAME_AUS)}


def weak_z(z_high: float, k: float, f: float | None = None) -> float:
    """The flow's lower bar, robust SDs of its quiet score: ``f * z_high`` when given, else where
    a flow z and an AU z of ``k``, independent, combine to ``z_high`` (Stouffer's z, the sum over
    sqrt(2)), never above z_high itself."""
    bar = f * z_high if f is not None else math.sqrt(2.0) * z_high - k
    return min(z_high, max(0.0, bar))


def au_blocks(aligned: np.ndarray, crop: int = CROP, grid: int = GRID) -> dict[int, frozenset[int]]:
    """AU -> the spotting grid's blocks (row * grid + column) holding its landmarks, for one
    face's aligned landmarks (crop pixels)."""
    out = {}
    for au, points in AU_POINTS.items():
        xy = np.asarray(aligned)[list(points), :2]
        cells = np.clip((xy * grid / crop).astype(int), 0, grid - 1)
        out[au] = frozenset(int(r) * grid + int(c) for c, r in cells)
    return out


def spreads(noise: np.ndarray) -> np.ndarray:
    """Each AU's quiet-time spread in its change's units, with the resolution floor."""
    floor = np.array([PX_PER_STEP.get(a, 0.2) * MIN_SPREAD_STEPS for a in FRAME_AUS])
    return np.maximum(np.asarray(noise, np.float64), floor)


def _median3(x: np.ndarray) -> np.ndarray:
    if len(x) < SMOOTH:
        return x
    pad = np.concatenate([x[:1], x, x[-1:]])
    return np.median(np.lib.stride_tricks.sliding_window_view(pad, SMOOTH, axis=0), axis=-1)


def _rise_fall(z: np.ndarray) -> tuple[float, float, int]:
    """(rise from the first frame to the peak, fall from the peak to the last, the peak's row)."""
    z = _median3(z)
    top = int(np.argmax(z))
    return float(z[top] - z[0]), float(z[top] - z[-1]), top


def agreement(
    changes_sigma: np.ndarray, aus: list[int], k: float, peak_within: tuple[int, int] | None = None
) -> dict | None:
    """The AU among ``aus`` that rises and falls by ``k`` or more of its own spread
    (``changes_sigma``: frames x FRAME_AUS, change / spread, over the flow's reach), with its peak
    in the rows ``peak_within`` (the flow interval itself: the same time), or None.  Nothing
    confirms where the eyes blink in the same frames (AU45 rising and falling by ``k``): the mesh
    and the brow rows are dragged by the lids, so the other AUs' motion may be the blink's."""
    if len(changes_sigma) < SMOOTH:
        return None
    lo, hi = peak_within if peak_within is not None else (0, len(changes_sigma) - 1)
    b_rise, b_fall, _ = _rise_fall(changes_sigma[:, _COL[45]])
    if min(b_rise, b_fall) >= k:
        return None
    best = None
    for au in aus:
        if au in NOT_CONFIRMING or au not in _COL:
            continue
        rise, fall, top = _rise_fall(changes_sigma[:, _COL[au]])
        if (
            lo <= top <= hi
            and min(rise, fall) >= k
            and (best is None or min(rise, fall) > min(best["rise"], best["fall"]))
        ):
            best = {"au": au, "rise": round(rise, 2), "fall": round(fall, 2)}
    return best


def pointed_aus(blocks: tuple[int, ...], regions: dict[int, frozenset[int]]) -> list[int]:
    """The AUs whose landmarks lie in any of ``blocks``."""
    hit = set(blocks)
    return sorted(a for a, cells in regions.items() if cells & hit)
