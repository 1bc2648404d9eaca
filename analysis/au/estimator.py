"""Training-free AU estimation from landmark motion against the participant's own neutral face.

For every frame the analyzer gives the landmark measures (measures.py).  Frames outside any
movement ("quiet" frames: the spotter's score under its threshold) update a running neutral
baseline per measure (median of the last ``window_s``) and its noise (1.4826 MAD).  For a spotted
interval each measure's change is its most extreme value inside the interval minus the baseline,
in units of its noise; an AU is present when its rule's changes pass ``z`` (and ``min_px``).

Covered AUs (of the study's 22): 1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 24, 25, 26, 43, 45.
Not covered (no landmark signature): 11, 13, 16, 18, 23 (lip shapes the mesh barely resolves), 39,
56-64 (head and eye turns are removed by alignment, not expressions).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from mestudio.analysis.au.measures import MEASURES

M = {name: i for i, name in enumerate(MEASURES)}
# AU -> rule over measure changes (measure, direction): every "all" change must pass the
# threshold, at least one "any" change (when given), and no "not" change (a movement that would
# mean another AU, e.g. lips corners going down is AU15, so it vetoes AU14 and AU10).
AU_RULES: dict[int, dict[str, list[tuple[str, int]]]] = {
    1: {"all": [("inner_brow_height", +1)]},
    2: {"all": [("outer_brow_height", +1)]},
    4: {"any": [("inner_brow_height", -1), ("brow_gap", -1)], "not": [("inner_brow_height", +1)]},
    5: {"all": [("eye_open", +1)], "not": [("inner_brow_height", +1), ("outer_brow_height", +1)]},
    6: {"all": [("cheek_height", +1)]},
    7: {"all": [("eye_open", -1), ("lower_lid_height", +1)], "not": [("cheek_height", +1)]},
    9: {"all": [("nose_ala_height", +1)], "not": [("corner_height", -1), ("corner_height", +1)]},
    10: {"all": [("upper_lip_height", +1)], "not": [("corner_height", -1)]},
    12: {"all": [("corner_height", +1)], "not": [("mouth_width", -1)]},
    14: {"all": [("mouth_width", -1)], "not": [("corner_height", -1)]},
    15: {"all": [("corner_height", -1)]},
    17: {"all": [("chin_height", +1)]},
    20: {"all": [("mouth_width", +1)], "not": [("corner_height", +1)]},
    24: {"all": [("lip_thickness", -1)]},
    25: {"all": [("lips_apart", +1)]},
    26: {"all": [("lips_apart", +1), ("chin_height", -1)]},
    # a blink pulls the upper lid down (AU7 mostly lifts the lower one: see _resolve)
    45: {"all": [("eye_open", -1), ("upper_lid_height", -1)]},
}
AUS = tuple(sorted(AU_RULES)) + (43,)
UPPER = frozenset({1, 2, 4, 5, 7, 43, 45})  # AU6 and AU9 sit between the halves
LOWER = frozenset({10, 12, 14, 15, 17, 20, 24, 25, 26})
SPILL_RATIO = 0.4
MIN_QUIET = 10  # quiet frames before the baseline is trusted
# a blink drops the upper lid by this much (crop px; the mesh follows the lids only partly: the
# rig's full blinks read as a 2-2.5 px fall and 13-33 % less aperture, its AU7 and a smile's
# squint as a 0.6 px fall)
BLINK_UPPER_FALL_PX = 1.2
BLINK_MAX_S = 0.4  # blinks last 0.1-0.4 s (eyes more than half closed for less)
EYES_CLOSED_S = 1.0  # closed longer than this (and deeply) is AU43, eyes closed
EYES_CLOSED_CLOSURE = 0.5


@dataclass
class AUResult:
    aus: list[int]  # AUs present
    strength: dict[int, float]  # AU -> change in noise units (only present AUs)
    changes: dict[str, float]  # measure -> signed change in noise units


class LandmarkAUEstimator:
    """Keeps the neutral baseline and decides AUs for intervals of measure vectors."""

    def __init__(self, fps: float, window_s: float = 10.0, z: float = 4.5, min_px: float = 0.25) -> None:
        self.fps = fps
        self.z, self.min_px = z, min_px
        self._quiet: deque[np.ndarray] = deque(maxlen=max(MIN_QUIET, int(window_s * fps)))
        self.baseline: np.ndarray | None = None
        self.noise: np.ndarray | None = None
        self._every = max(1, int(fps / 5))
        self._n = 0

    @property
    def ready(self) -> bool:
        return self.baseline is not None

    def observe_quiet(self, m: np.ndarray) -> None:
        """A frame with no movement under way: it feeds the neutral baseline."""
        self._quiet.append(m)
        self._n += 1
        # refresh often while the baseline is young (a short clip), then 5 times a second
        if len(self._quiet) >= MIN_QUIET and (len(self._quiet) < 60 or self._n % self._every == 0):
            q = np.stack(self._quiet)
            self.baseline = np.median(q, axis=0)
            self.noise = 1.4826 * np.median(np.abs(q - self.baseline), axis=0) + 1e-3

    def reset(self) -> None:
        """The face was re-acquired (maybe another person): learn the baseline again."""
        self._quiet.clear()
        self.baseline = self.noise = None

    def estimate(self, series: np.ndarray, duration_s: float) -> AUResult:
        """AUs of one interval from its (T, len(MEASURES)) measure series."""
        if self.baseline is None or len(series) == 0:
            return AUResult([], {}, {})
        d = series - self.baseline
        ext = d[np.argmax(np.abs(d), axis=0), np.arange(d.shape[1])]  # most extreme signed change
        px_ok = np.abs(ext) >= self.min_px
        zc = ext / self.noise
        changes = {name: round(float(zc[i]), 2) for i, name in enumerate(MEASURES)}
        aus: list[int] = []
        strength: dict[int, float] = {}
        passed = lambda name, sign: sign * zc[M[name]] > self.z and px_ok[M[name]]  # noqa: E731
        for au, rule in AU_RULES.items():
            need, any_of, veto = rule.get("all", []), rule.get("any", []), rule.get("not", [])
            if not all(passed(*c) for c in need) or (any_of and not any(passed(*c) for c in any_of)):
                continue
            if any(passed(*c) for c in veto):
                continue
            vals = [sign * zc[M[name]] for name, sign in need + [c for c in any_of if passed(*c)]]
            aus.append(au)
            strength[au] = round(float(min(vals)), 2)
        self._resolve(aus, strength, series, duration_s, ext)
        return AUResult(sorted(aus), {a: strength.get(a, 0.0) for a in aus}, changes)

    def _resolve(
        self, aus: list[int], strength: dict[int, float], series: np.ndarray, duration_s: float, ext: np.ndarray
    ) -> None:
        """Eye closure: a short closure is a blink (AU45), a long deep one eyes closed (AU43); the
        landmark model then moves the whole upper face with the lids, so no other AU is kept (the
        interval is a blink).  A long partial closure is the squint of another expression.
        An eye narrowed mostly by the upper lid (1.5 times the lower lid's rise) is a blink,
        otherwise AU7.
        A cheek raise (AU6) pulls the skin round the eye, brows included, towards the eye: a
        brow lowering weaker than the cheek raise is that, not AU4.  Lips apart with jaw drop is
        AU26, which includes AU25."""
        if 4 in aus and 6 in aus and strength[4] < strength[6]:
            aus.remove(4)
        upper_fall, lower_rise = -ext[M["upper_lid_height"]], ext[M["lower_lid_height"]]
        if 7 in aus and 45 in aus:  # the eye narrowed: by the upper lid falling (blink) or the lower rising
            aus.remove(7 if upper_fall > 1.5 * lower_rise else 45)
        # the face mesh couples its regions a little: a strong brow raise drags the mouth corners'
        # landmarks too.  An AU far weaker than the strongest AU of the other face half is that.
        for half, other in ((UPPER, LOWER), (LOWER, UPPER)):
            top = max((strength[a] for a in aus if a in other), default=0.0)
            for a in [a for a in aus if a in half and strength[a] < SPILL_RATIO * top]:
                aus.remove(a)
        kept = list(aus)
        eo = M["eye_open"]
        assert self.baseline is not None  # estimate() needs the baseline it fitted
        drop = self.baseline[eo] - series[:, eo]
        closure = float(drop.max()) / max(float(self.baseline[eo]), 1e-3)
        # how long the eyes stayed more than half-way to their most closed (not the interval's
        # length: a blink inside a longer interval is still a blink)
        closed_s = float(np.sum(drop >= 0.5 * drop.max())) / self.fps
        if 45 in aus:
            aus.clear()  # the lids' motion drags the upper face's landmarks: nothing else is kept
            if closed_s > EYES_CLOSED_S and closure >= EYES_CLOSED_CLOSURE:
                aus.append(43)
            elif closed_s <= BLINK_MAX_S and upper_fall >= BLINK_UPPER_FALL_PX:
                aus.append(45)
            else:  # a long, partial narrowing (a smile squints): not a blink after all
                aus.extend(a for a in kept if a != 45)
        if 26 in aus and 25 in aus:
            aus.remove(25)
