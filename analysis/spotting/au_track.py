"""Macro-expression spotting from per-frame AU intensities (analysis/au/intensity.py).

The optical-flow spotters see a held expression only at its rise and fall, and need seconds of
quiet face before they trust their threshold; the AU intensities are already relative to the
participant's neutral face, so a smile held for 2 s is simply 2 s of AU12 above its threshold.
An interval opens when the strongest AU of a frame reaches ``high`` (intensity steps, 0-5) and
extends over the frames above ``low`` around it; it closes after ``close_s`` below ``low``.
Intervals under 0.5 s are left to the flow spotters (the micro scale: landmark trajectories
are too noisy there); over 4 s is a static expression: reported once, at 4 s, as ``static``,
with its onset, and excluded from the macro events, as the study does.
"""

from __future__ import annotations

from mestudio.analysis.spotting.intervals import MACRO_MAX_S, MICRO_MAX_S, Interval

METHOD = "au-track"


class AUTrackSpotter:
    """Causal: ``push(frame, t, activity)`` returns the intervals that closed (and static onsets)."""

    def __init__(self, fps: float, high: float = 1.5, low: float = 0.8, close_s: float = 0.2) -> None:
        self.fps, self.high, self.low = fps, high, low
        self.close_n = max(1, int(round(close_s * fps)))
        self._cand: list[tuple[int, float, float]] | None = None  # frames since activity > low
        self._below = 0
        self._static = False
        self.static_excluded = 0

    @property
    def idle(self) -> bool:
        return self._cand is None

    @property
    def holding(self) -> bool:
        """An interval is open that may still become a macro event (not yet static)."""
        return self._cand is not None and not self._static

    @property
    def open_since(self) -> int:
        return self._cand[0][0] if self._cand else -1

    def push(self, frame: int, t: float, activity: float) -> list[Interval]:
        if self._cand is None:
            if activity > self.low:
                self._cand, self._below, self._static = [(frame, t, activity)], 0, False
            return []
        self._cand.append((frame, t, activity))
        self._below = self._below + 1 if activity <= self.low else 0
        if self._below >= self.close_n:
            return self._close(self._cand[: len(self._cand) - self._below])
        if not self._static and t - self._cand[0][1] > MACRO_MAX_S and self._peak() >= self.high:
            self._static = True  # report it now, with its onset: it is excluded, not forgotten
            self.static_excluded += 1
            return [self._interval(self._cand, METHOD)]  # over 4 s: kind "static"
        return []

    def gap(self) -> list[Interval]:
        return self.flush()

    def flush(self) -> list[Interval]:
        if self._cand is None:
            return []
        cand = self._cand[: len(self._cand) - self._below] or self._cand
        return self._close(cand)

    def _peak(self) -> float:
        assert self._cand is not None  # only called with a candidate under way
        return max(a for _, _, a in self._cand)

    def _close(self, cand: list[tuple[int, float, float]]) -> list[Interval]:
        static, self._cand = self._static, None
        if static or max(a for _, _, a in cand) < self.high:
            return []
        iv = self._interval(cand, METHOD)
        return [iv] if MICRO_MAX_S <= iv.duration_s <= MACRO_MAX_S else []

    def _interval(self, cand: list[tuple[int, float, float]], method: str) -> Interval:
        a = max(range(len(cand)), key=lambda i: cand[i][2])
        # the offset is the last frame above low, plus one frame period: a 1-frame interval lasts 1/fps
        return Interval(
            cand[0][0],
            cand[a][0],
            cand[-1][0],
            cand[0][1],
            cand[a][1],
            cand[-1][1] + 1.0 / self.fps,
            round(cand[a][2], 3),
            method,
        )
