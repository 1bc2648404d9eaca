"""From a per-frame spotting score to intervals, causally: adaptive threshold with hysteresis.

The threshold follows the participant's own quiet score: median + ``z_high`` robust standard
deviations (1.4826 MAD) of the last ``window_s`` seconds of frames outside intervals, never below
``min_score``.  A candidate starts when the score passes the low threshold (``z_low``) and is an
interval when it also passes the high one; it ends after ``close_s`` below the low threshold.
Onset and offset are the first and last frames above the low threshold, the apex the highest.
Durations classify it as the study does: micro < 0.5 s, macro 0.5-4 s; longer (static) movements
are excluded (counted in ``static_excluded``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

MICRO_MAX_S = 0.5
MACRO_MAX_S = 4.0


@dataclass
class Interval:
    """One spotted movement: frame positions (0-based in the analysed stream) and seconds."""

    onset: int
    apex: int
    offset: int
    onset_s: float
    apex_s: float
    offset_s: float
    peak: float  # highest score in the interval
    method: str = ""
    # passed only the weak threshold (spotting fusion: an event only if another cue agrees)
    weak: bool = False
    blocks: tuple[int, ...] = ()  # the blocks that scored highest at the apex (the spotter's grid)

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s

    @property
    def kind(self) -> str:
        return classify(self.duration_s)

    def to_dict(self) -> dict:
        return {**asdict(self), "kind": self.kind, "duration_s": round(self.duration_s, 4)}


def classify(duration_s: float) -> str:
    """ "micro" (< 0.5 s), "macro" (0.5-4 s) or "static" (> 4 s, excluded), as the study."""
    if duration_s < MICRO_MAX_S:
        return "micro"
    return "macro" if duration_s <= MACRO_MAX_S else "static"


class IntervalDetector:
    """Feeds on (frame, time, score) in order; returns intervals as they close."""

    def __init__(
        self,
        fps: float,
        *,
        z_high: float = 6.0,
        z_low: float = 2.0,
        min_score: float = 0.0,
        window_s: float = 10.0,
        warmup_s: float = 1.0,
        close_s: float = 0.1,
        method: str = "",
        pad_s: float = 0.0,
        z_weak: float | None = None,
    ) -> None:
        self.z_high, self.z_low, self.min_score = z_high, z_low, min_score
        # candidates that pass this bar but not z_high close as ``weak`` intervals (None: dropped)
        self.z_weak = z_weak
        self.weak = float("inf")
        self.quiet: deque[float] = deque(maxlen=max(10, int(window_s * fps)))
        self.warmup = max(5, int(round(warmup_s * fps)))
        self.close_n = max(1, int(round(close_s * fps)))
        self.method = method
        # the score crosses the low threshold a little after a movement starts and falls under it
        # a little before the movement has settled: widen the interval by this much each side
        self.pad_n = int(round(pad_s * fps))
        self.fps = fps
        self._stats_every = max(1, int(fps / 10))  # refresh the threshold 10 times a second
        self._n = 0
        self.high = self.low = float("inf")
        self._cand: list[tuple[int, float, float]] | None = None  # (frame, t, score) since start
        self._below = 0
        self.static_excluded = 0

    @property
    def idle(self) -> bool:
        """No candidate interval open."""
        return self._cand is None

    @property
    def open_since(self) -> int:
        """Frame where the open candidate started (only while not idle)."""
        return self._cand[0][0] if self._cand else -1

    @property
    def warm(self) -> bool:
        return len(self.quiet) >= self.warmup

    def thresholds(self) -> tuple[float, float]:
        return self.low, self.high

    def _refresh(self) -> None:
        q = np.fromiter(self.quiet, float)
        med = float(np.median(q))
        sigma = 1.4826 * float(np.median(np.abs(q - med))) + 1e-9
        self.high = max(self.min_score, med + self.z_high * sigma)
        self.low = min(self.high, med + self.z_low * sigma)
        if self.z_weak is not None:
            self.weak = min(self.high, max(self.low, med + self.z_weak * sigma))

    def push(self, frame: int, t: float, score: float) -> list[Interval]:
        out: list[Interval] = []
        if self._cand is None:
            if len(self.quiet) >= self.warmup and score > self.low:
                self._cand, self._below = [(frame, t, score)], 0
            else:
                if score < self.high or len(self.quiet) < self.warmup:
                    self.quiet.append(score)
                self._n += 1
                if len(self.quiet) >= self.warmup and self._n % self._stats_every == 0:
                    self._refresh()
            return out
        self._cand.append((frame, t, score))
        self._below = self._below + 1 if score <= self.low else 0
        if self._below >= self.close_n:
            iv = self._close(self._cand[: len(self._cand) - self._below])
            self._cand = None
            if iv is not None:
                out.append(iv)
        return out

    def flush(self) -> list[Interval]:
        """End of stream: close an open candidate."""
        if self._cand is None:
            return []
        cand = self._cand[: len(self._cand) - self._below] or self._cand
        self._cand = None
        iv = self._close(cand)
        return [iv] if iv is not None else []

    def _close(self, cand: list[tuple[int, float, float]]) -> Interval | None:
        scores = [s for _, _, s in cand]
        peak = max(scores)
        weak = peak <= self.high
        if weak and (self.z_weak is None or peak <= self.weak):
            return None  # passed the low threshold only: noise
        a = int(np.argmax(scores))
        p, dt = self.pad_n, self.pad_n / self.fps
        iv = Interval(
            cand[0][0] - p,
            cand[a][0],
            cand[-1][0] + p,
            cand[0][1] - dt,
            cand[a][1],
            cand[-1][1] + dt,
            round(peak, 5),
            self.method,
            weak,
        )
        if iv.kind == "static":
            self.static_excluded += 1
            return None
        return iv
