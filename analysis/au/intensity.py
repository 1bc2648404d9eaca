"""Per-frame AU intensities (0-5) and presence (0/1) in OpenFace 2's column convention.

Each AU's intensity is the change of its landmark measure(s) (measures.py, crop pixels: the eyes
56 px apart, about 1.1 mm of face per pixel) from the participant's own neutral face, divided by
the pixels one intensity step takes (``PX_PER_STEP``) and clipped to 0-5.  The neutral face is
learnt online: the median of the first ``init_s`` of frames with a face, then the median of the
last ``window_s`` of frames in which no AU's evidence reaches ``NEUTRAL_MAX`` (so a held
expression does not become the neutral face).  The same frames give each AU's noise (1.4826 MAD
of its change).  The intensity itself is the whole change (an estimate is not biased towards 0
by a noise margin: a margin there cost the brows r 0.15 against OpenFace on a real clip); the
*evidence* (``gated``) leaves out the first ``DEAD_ZONE`` noise units of a change, so decisions
(the neutral frames, the AU-track spotter, an event's AUs) do not read a small or blurred
face's landmark jitter as expressions (a sharp face's noise is a fraction of a pixel).
A blink is the eye aperture's closure as a fraction of the neutral aperture (5 = closed).
The brows are measured in the image (measures.BrowRows), not by the mesh's brow points: AU4 is
the inner brow heads' motion down and towards the midline (FACS: lowers the brows and draws them
together), in crop px, the two directions weighted alike.
Presence (``_c``) is an intensity of at least ``PRESENT_AT``.

Columns are spelt and ordered as OpenFace 2 writes them (AU01 ... AU45, all ``_r`` then all
``_c``), so a lab can put these tables beside OpenFace's or Py-Feat's; AU24 (not in OpenFace)
sits in numeric order.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from mestudio.analysis.au.measures import MEASURES

M = {name: i for i, name in enumerate(MEASURES)}
# AU -> alternatives, each a weighted sum of measure changes; the intensity is the largest.
# The weights beyond the AU's own measure remove what a stronger neighbour moves too: a smile
# (AU12) pulls the corners out as well as up (widening the mouth ~2.5 px per px of rise, which is
# not AU20), lifts the upper lip less than its corners (AU10 lifts the centre more), raises the
# cheeks and with them the nose alae (AU9 lifts the alae more than the cheeks), and thins the
# stretched lips (not AU24).
AU_MEASURES: dict[int, list[tuple[tuple[str, float], ...]]] = {
    1: [(("inner_brow_row", 1.0),)],
    2: [(("outer_brow_row", 1.0),)],
    4: [(("inner_brow_row", -1.0), ("inner_brow_inward", 1.0))],
    5: [(("upper_lid_over_iris", 1.0),)],
    6: [(("cheek_height", 1.0),)],
    7: [(("lower_lid_to_iris", 1.0),)],
    9: [(("nose_ala_height", 1.0), ("cheek_height", -0.8))],
    10: [(("upper_lip_height", 1.0), ("corner_height", -1.0))],
    12: [(("corner_height", 1.0),)],
    14: [(("mouth_width", -1.0),)],
    15: [(("corner_height", -1.0),)],
    17: [(("chin_height", 1.0),)],
    20: [(("mouth_width", 1.0), ("corner_height", -2.5))],
    24: [(("lip_thickness", -1.0), ("mouth_width", -0.08))],
    25: [(("lips_apart", 1.0),)],
    26: [(("chin_height", -1.0),)],
}
# crop pixels of change per intensity step: a broad smile lifts the corners ~8 px (AU12 ~4), an
# open mouth parts the lips ~12 px, a brow raise moves the mesh's brows 2-3 px
PX_PER_STEP: dict[int, float] = {
    1: 0.8,
    2: 0.8,
    4: 0.8,
    5: 0.8,
    6: 1.0,
    7: 0.8,
    9: 1.2,
    10: 1.2,
    12: 2.0,
    14: 2.5,
    15: 1.2,
    17: 1.5,
    20: 3.0,
    24: 1.0,
    25: 2.5,
    26: 3.0,
}
FRAME_AUS: tuple[int, ...] = tuple(sorted(AU_MEASURES)) + (45,)
STUDY_AUS: tuple[int, ...] = (1, 2, 4, 6, 7, 12, 17, 45)  # the 4DME study's eight detected AUs
PRESENT_AT = 1.0  # intensity from which an AU is "present" (OpenFace's _c)
NEUTRAL_MAX = 0.5  # a frame is neutral while no AU's evidence reaches this
MAX_INTENSITY = 5.0
DEAD_ZONE = 2.0  # noise units of change the evidence leaves out


def au_columns(aus: tuple[int, ...] = FRAME_AUS) -> list[str]:
    """OpenFace 2's AU column names: every ``AUxx_r``, then every ``AUxx_c``."""
    return [f"AU{a:02d}_r" for a in aus] + [f"AU{a:02d}_c" for a in aus]


class FrameAUs:
    """Per-frame AU intensities against the neutral face, learnt online from the same frames."""

    def __init__(self, fps: float, init_s: float = 0.3, window_s: float = 10.0) -> None:
        self.fps = fps
        self._init_n = max(5, int(round(init_s * fps)))
        self._neutral: deque[np.ndarray] = deque(maxlen=max(self._init_n, int(window_s * fps)))
        self._every = max(1, int(fps / 5))
        self._n = 0
        self.baseline: np.ndarray | None = None
        self.noise = np.zeros(len(FRAME_AUS))  # per AU, in the change's own units (px; closure)
        # every alternative as a row of weights over the measures; AU i's alternatives are rows
        # _first[i] .. _first[i + 1] - 1, and its change is their maximum
        rows = [alt for a in FRAME_AUS[:-1] for alt in AU_MEASURES[a]]
        self._w = np.zeros((len(rows), len(MEASURES)))
        for r, alt in enumerate(rows):
            for n, w in alt:
                self._w[r, M[n]] = w
        self._first = np.cumsum([0] + [len(AU_MEASURES[a]) for a in FRAME_AUS[:-2]])
        self._scale = np.array([PX_PER_STEP[a] for a in FRAME_AUS[:-1]], np.float64)

    @property
    def ready(self) -> bool:
        return self.baseline is not None

    def reset(self) -> None:
        """A new face (re-acquisition): learn its neutral face again."""
        self._neutral.clear()
        self.baseline = None
        self.noise = np.zeros(len(FRAME_AUS))
        self._n = 0

    def _changes(self, m: np.ndarray) -> np.ndarray:
        """Signed change of each AU's measure(s) from the baseline (px; the blink's closure), for
        one frame's measures (n,) or many (k, n)."""
        assert self.baseline is not None  # callers learn the neutral face first
        d = np.asarray(m, np.float64) - self.baseline
        change = np.maximum.reduceat(d @ self._w.T, self._first, axis=-1)
        eo = max(float(self.baseline[M["eye_open"]]), 1e-3)
        return np.concatenate([change, -d[..., M["eye_open"], None] / eo], axis=-1)

    def changes(self, m: np.ndarray) -> np.ndarray:
        """Signed change of each AU (FRAME_AUS; crop px, the blink's closure) from the neutral
        face, towards the AU positive; zeros until the neutral face is known."""
        if self.baseline is None:
            return np.zeros(len(FRAME_AUS))
        return self._changes(m)

    def intensities(self, m: np.ndarray, gated: bool = False) -> np.ndarray:
        """Intensities (len(FRAME_AUS),) of one frame's measures against the current baseline;
        ``gated``: the evidence, the change beyond ``DEAD_ZONE`` noise units."""
        if self.baseline is None:
            return np.zeros(len(FRAME_AUS))
        c = self._changes(m) - (DEAD_ZONE * self.noise if gated else 0.0)
        r = np.clip(c[:-1] / self._scale, 0.0, MAX_INTENSITY)
        return np.append(r, MAX_INTENSITY * float(np.clip(c[-1], 0.0, 1.0)))

    def _learn(self) -> None:
        q = np.stack(self._neutral)
        self.baseline = np.median(q, axis=0)
        c = self._changes(q)
        self.noise = 1.4826 * np.median(np.abs(c - np.median(c, axis=0)), axis=0)

    def push(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add one frame's measures; its (intensities, evidence), zeros until the neutral face
        is known."""
        m = np.asarray(m, np.float64)
        if self.baseline is None:
            self._neutral.append(m)
            if len(self._neutral) >= self._init_n:
                self._learn()
            return self.intensities(m), self.intensities(m, gated=True)
        r, e = self.intensities(m), self.intensities(m, gated=True)
        if e.max() < NEUTRAL_MAX:
            self._neutral.append(m)
            self._n += 1
            if self._n % self._every == 0:
                self._learn()
        return r, e


def presence(r: np.ndarray) -> np.ndarray:
    """OpenFace's ``_c``: 1 where the intensity reaches ``PRESENT_AT``."""
    return (np.asarray(r) >= PRESENT_AT).astype(np.int8)
