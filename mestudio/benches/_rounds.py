"""Interleaved repetitions: a loaded machine slows every variant of a round alike.

Each round runs every variant once, in an order rotated from round to round (none always goes
first, on a cold cache, or last, on a filling disk).  A variant returns what it measured; the
summary is the median over rounds with the spread, and a ratio is taken inside each round
(subject / baseline measured minutes, not hours, apart) before its median is reported.
"""

from __future__ import annotations

import resource
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field


def cpu_s() -> float:
    """CPU seconds of this process so far, all its threads (zmq's I/O threads included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class Sample:
    """One variant in one round: wall seconds, CPU seconds of the measuring process, megabytes."""

    wall_s: float
    cpu_s: float
    mb: float
    extra: dict = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float:
        return self.mb / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_ms_per_mb(self) -> float:
        return 1000 * self.cpu_s / self.mb if self.mb else 0.0


def interleave(variants: dict[str, Callable[[], Sample]], rounds: int) -> dict[str, list[Sample]]:
    """Run every variant once per round, rotating their order; returns each one's samples."""
    names = list(variants)
    out: dict[str, list[Sample]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(variants[name]())
    return out


def spread(values: list[float]) -> dict:
    """Median, min, max and (max - min) / median of one figure over the rounds."""
    med = statistics.median(values)
    return {
        "median": round(med, 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "spread": round((max(values) - min(values)) / med, 3) if med else None,
    }


def summary(samples: list[Sample]) -> dict:
    """MB/s and CPU per MB over the rounds (median and spread of each)."""
    return {
        "rounds": len(samples),
        "MB_per_s": spread([s.mb_per_s for s in samples]),
        "cpu_ms_per_MB": spread([s.cpu_ms_per_mb for s in samples]),
    }


def paired_ratio(subject: list[Sample], baseline: list[Sample]) -> dict:
    """subject / baseline throughput inside each round, then over the rounds."""
    return spread([s.mb_per_s / b.mb_per_s for s, b in zip(subject, baseline) if b.mb_per_s])
