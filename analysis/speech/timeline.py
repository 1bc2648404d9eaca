"""Which spotted movements speech explains: mouth-only movements while the participant talks.

A movement is "mouth-only" when none of its AUs is of the upper face or the cheeks (the brows,
lids, cheeks and nose do not move to articulate), so a Duchenne smile (AU6+12) while talking is
kept and the lips and jaw of speech (AU10-AU28, or an unlabelled movement) are not.  It is "during
speech" when voice covers at least half of it.
"""

from __future__ import annotations

from collections.abc import Iterable

# AUs speech does not make: an event with one of them is an expression even while talking
MOUTH_ONLY_EXEMPT = frozenset({1, 2, 4, 5, 6, 7, 9, 43, 45, 46})
DURING = 0.5  # fraction of the movement's span that voice must cover


def mouth_only(aus: Iterable[int]) -> bool:
    return not (set(aus) & MOUTH_ONLY_EXEMPT)


class SpeechTimeline:
    """Speech segments (host seconds) as they come, and how much of an interval they cover."""

    def __init__(self, segments: Iterable[tuple[float, float]] = ()) -> None:
        self.segments: list[tuple[float, float]] = sorted(segments)
        self.open: tuple[float, float] | None = None  # live: the segment still under way

    def add(self, segments: Iterable[tuple[float, float]], open_segment: tuple[float, float] | None = None) -> None:
        """Closed segments, and (live) the one under way; lists are rebound, never changed in
        place, so the analyzer's thread may read while the microphone's thread adds."""
        self.segments = sorted(self.segments + list(segments))
        self.open = open_segment

    def coverage(self, t0: float, t1: float) -> float:
        """Fraction of [t0, t1] covered by speech."""
        if t1 <= t0:
            return float(any(a <= t0 <= b for a, b in self.segments + ([self.open] if self.open else [])))
        segs = self.segments + ([self.open] if self.open else [])
        covered = sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in segs)
        return min(1.0, covered / (t1 - t0))

    def during(self, t0: float, t1: float) -> bool:
        return self.coverage(t0, t1) >= DURING

    @property
    def seconds(self) -> float:
        return sum(b - a for a, b in self.segments)
