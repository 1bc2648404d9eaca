"""Facial measures from aligned landmarks: what each AU changes, in crop pixels.

Landmarks are mediapipe face-mesh indices, already mapped into the 150x150 crop (eyes 56 px
apart, so one pixel is about 1.1 mm of face).  Every measure grows in the direction its AU moves
(see ``AU_RULES`` in estimator.py).  Heights are measured from the crop's eye line (y = 55),
which the alignment to rigid points (nose, temples, forehead) holds fixed: not from the eye
landmarks themselves, which move when the lids do.
"""

from __future__ import annotations

import cv2
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
# the iris centres (refine_landmarks): AU5 bares the eyeball above the iris (FACS), so its measure
# is the upper lid's height over the iris centre, not the aperture (which a brow raise, a squint
# of the lower lid or a side light on the lids also changes); AU7 raises the lower lid towards the
# iris: measured from the iris, the lid no longer rises with a brow raise (against the eye line it
# did: r 0.56 with OpenFace's AU1 on a real clip, a false AU7 on every raise)
IRIS = (468, 473)

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
    "inner_brow_row",
    "outer_brow_row",
    "inner_brow_inward",
    "upper_lid_over_iris",
    "lower_lid_to_iris",
)
# the brows as the image shows them: the mesh's brow points hardly follow a real brow raise
# (against OpenFace 2 on a real clip: inner brow r -0.46), the dark band of the brow hair does
BROW_ROW_INNER = (107, 336)
BROW_ROW_OUTER = (105, 334, 66, 296)  # the brow's body, where its hair is darkest
ROW_HALF_WIDTH = 5  # crop px each side of the landmark: the column band averaged
MATCH_HALF = 8  # rows each side compared with the reference profile
MAX_SHIFT = 6  # crop px a brow can move from its neutral place (a strong raise is ~5)
# AU4 draws the brows together as well as down (FACS): the inner brow heads' row profiles,
# matched sideways, give how far each head moved towards the midline
BROW_HEADS = BROW_ROW_INNER  # (person's right, person's left) inner brow heads


def _profile(g: np.ndarray, x0: int, y0: int, half: int) -> np.ndarray | None:
    h, w = g.shape[:2]
    top, bottom = y0 - half, y0 + half + 1
    left, right = max(0, x0 - ROW_HALF_WIDTH), min(w, x0 + ROW_HALF_WIDTH + 1)
    if top < 0 or bottom > h or right - left < 3:
        return None
    return g[top:bottom, left:right].mean(axis=1)


def _row_profile(g: np.ndarray, x0: int, y0: int, half: int) -> np.ndarray | None:
    """The horizontal profile through (x0, y0): ``2 half + 1`` columns, a band of rows averaged."""
    h, w = g.shape[:2]
    left, right = x0 - half, x0 + half + 1
    top, bottom = max(0, y0 - ROW_HALF_WIDTH), min(h, y0 + ROW_HALF_WIDTH + 1)
    if left < 0 or right > w or bottom - top < 3:
        return None
    return g[top:bottom, left:right].mean(axis=0)


def _best_shift(profs: list[np.ndarray], refs: list[np.ndarray]) -> np.ndarray:
    """Sub-pixel shift of each reference profile inside its longer current profile (SSD of the
    normalised windows; parabola through the best match and its neighbours), from the start."""
    win = np.lib.stride_tricks.sliding_window_view(np.stack(profs), 2 * MATCH_HALF + 1, axis=1)
    win = (win - win.mean(axis=2, keepdims=True)) / (win.std(axis=2, keepdims=True) + 1e-6)
    ssd = np.sum((win - np.stack(refs)[:, None, :]) ** 2, axis=2)  # (points, shifts)
    k = np.argmin(ssd, axis=1)
    kk = np.clip(k, 1, ssd.shape[1] - 2)
    rows = np.arange(len(profs))
    a, b, c = ssd[rows, kk - 1], ssd[rows, kk], ssd[rows, kk + 1]
    den = a - 2 * b + c
    sub = np.where((k == kk) & (den > 1e-9), 0.5 * (a - c) / np.where(den > 1e-9, den, 1.0), 0.0)
    return k + sub


def _z(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / (v.std() + 1e-6)  # gain and offset of the light do not matter


class BrowRows:
    """Brow heights from the image: each brow point's column profile in the aligned crop, matched
    against the same profile of the face's first frame (after acquisition), in a fixed place of
    the crop (the alignment holds the face still; the mesh's own brow points jitter).  Each
    height is the point's height above the eye line in that first frame minus the profile's
    vertical shift since, sub-pixel (parabola through the best match and its neighbours); the
    profiles are normalised, so a change of light does not move them.  The inner brow heads' row
    profiles, matched sideways the same way on the rows the brow sat on in the last frame, say
    how far the brows were drawn together (AU4): the mesh's brow points follow that no better
    than they follow a raise."""

    def __init__(self) -> None:
        self._ref: dict[int, tuple[int, int, np.ndarray]] | None = None
        self._heads: dict[int, tuple[int, int, np.ndarray]] = {}
        self._gap0 = 0.0  # minus half the inner brows' gap in the first frame (crop px)
        self._down = [0, 0]  # rows each inner brow is below its first place (last frame's)
        self._pose0 = np.zeros((len(BROW_ROW_INNER + BROW_ROW_OUTER) + len(BROW_HEADS), 2))

    def reset(self) -> None:
        self._ref = None
        self._heads = {}
        self._down = [0, 0]

    def __call__(
        self, crop: np.ndarray, p: np.ndarray, frontal: np.ndarray | None = None
    ) -> tuple[float, float, float]:
        """(inner brow height, outer brow height, inner heads' inward position), crop px; all
        profiles matched at once (one frame costs ~0.3 ms).  ``p``: the landmarks in the crop;
        ``frontal``: the same with the head's 3D rotation taken out (face/frontal.py), whose
        difference from ``p`` is how far the head's nod or turn moved each brow point in the
        crop since the first frame (taken out of the heights)."""
        g = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        idx = BROW_ROW_INNER + BROW_ROW_OUTER
        # how far the head's rotation moved each brow point (rows) and each head (columns)
        pose = np.zeros((len(idx) + 2, 2)) if frontal is None else (p - frontal)[list(idx + BROW_HEADS), :2]
        if self._ref is None:
            self._learn(g, p)
            self._pose0 = pose
        assert self._ref is not None
        pose = pose - self._pose0  # the 2D and 3D fits differ a little even at acquisition
        pose_dy, pose_dx = pose[: len(idx), 1], pose[len(idx) :, 0]
        heights = EYE_LINE - p[list(idx), 1]  # at the crop's edge: the landmark itself
        got: list[tuple[str, int]] = []  # ("v", point) vertical matches, ("h", side) sideways
        profs, refs = [], []
        for i, j in enumerate(idx):
            ref = self._ref.get(j)
            cur = None if ref is None else _profile(g, ref[0], ref[1], MATCH_HALF + MAX_SHIFT)
            if ref is not None and cur is not None:
                got.append(("v", i))
                profs.append(cur)
                refs.append(ref[2])
        for side, j in enumerate(BROW_HEADS):
            head = self._heads.get(j)
            row = None if head is None else head[1] + self._down[side]
            cur = None if head is None or row is None else _row_profile(g, head[0], row, MATCH_HALF + MAX_SHIFT)
            if head is not None and cur is not None:
                got.append(("h", side))
                profs.append(cur)
                refs.append(head[2])
        inward: list[float] = []
        if got:
            shifts = _best_shift(profs, refs) - MAX_SHIFT  # rows down / columns right since the first frame
            for (kind, k), shift in zip(got, shifts):
                if kind == "v":
                    heights[k] = EYE_LINE - (self._ref[idx[k]][1] + shift)
                else:  # the person's right brow (image left) moves right towards the midline
                    shift -= pose_dx[k]  # a turn moves both heads one way and closes their gap
                    inward.append(float(shift if k == 0 else -shift))
        # the heads' rows follow their brows with a frame's lag (a brow moves under a px a frame)
        for side, j in enumerate(BROW_ROW_INNER):
            ref = self._ref.get(j)
            if ref is not None:
                self._down[side] = int(round(EYE_LINE - ref[1] - heights[side]))
        heights = heights + pose_dy  # where the brow would be had the head not turned
        return (
            float(np.mean(heights[: len(BROW_ROW_INNER)])),
            float(np.mean(heights[len(BROW_ROW_INNER) :])),
            self._gap0 + float(np.mean(inward)) if len(inward) == 2 else _landmark_inward(p),
        )

    def _learn(self, g: np.ndarray, p: np.ndarray) -> None:
        """The first frame's profiles: each brow point's column, each inner head's row."""
        self._ref, self._heads, self._gap0, self._down = {}, {}, _landmark_inward(p), [0, 0]
        for j in BROW_ROW_INNER + BROW_ROW_OUTER:
            x0, y0 = int(round(p[j, 0])), int(round(p[j, 1]))
            prof = _profile(g, x0, y0, MATCH_HALF)
            if prof is not None:
                self._ref[j] = (x0, y0, _z(prof))
        for j in BROW_HEADS:
            x0, y0 = int(round(p[j, 0])), int(round(p[j, 1]))
            prof = _row_profile(g, x0, y0, MATCH_HALF)
            if prof is not None:
                self._heads[j] = (x0, y0, _z(prof))


def _landmark_inward(p: np.ndarray) -> float:
    return -0.5 * float(abs(p[BROW_INNER[1], 0] - p[BROW_INNER[0], 0]))


def measures(p: np.ndarray, brows: tuple[float, float, float] | None = None) -> np.ndarray:
    """One vector of ``MEASURES`` from (478, 2) aligned landmarks and the image's brow heights
    (BrowRows; without them, the brow rows are the landmarks' own heights)."""
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
            brows[0] if brows is not None else pair_h(BROW_ROW_INNER),
            brows[1] if brows is not None else pair_h(BROW_ROW_OUTER),
            brows[2] if brows is not None else _landmark_inward(p),
            float(np.mean(y[list(IRIS)] - y[list(LID_UP)])) if len(p) > max(IRIS) else pair_h(LID_UP),
            float(np.mean(y[list(IRIS)] - y[list(LID_LOW)])) if len(p) > max(IRIS) else pair_h(LID_LOW),
        ],
        np.float32,
    )
