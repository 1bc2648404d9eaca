"""The MEGC spotting protocol: a spotted interval is a true positive when it overlaps a
ground-truth interval of the same kind with IoU >= 0.5 (each ground truth counted once); counts
are pooled over all videos before precision, recall and F1; micro and macro are scored apart.

Intervals are (start, end) pairs.  Frame intervals are inclusive (MEGC counts frames), so pass
``inclusive=True`` for them; times in seconds are half-open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

KINDS = ("micro", "macro")


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else 0.0

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def iou(a: tuple[float, float], b: tuple[float, float], inclusive: bool = False) -> float:
    """Intersection over union of two intervals (frames inclusive when ``inclusive``)."""
    e = 1 if inclusive else 0
    inter = min(a[1], b[1]) - max(a[0], b[0]) + e
    union = max(a[1], b[1]) - min(a[0], b[0]) + e
    return max(0.0, inter) / union if union > 0 else 0.0


def match(
    pred: list[tuple[float, float]], truth: list[tuple[float, float]], threshold: float = 0.5, inclusive: bool = False
) -> tuple[Counts, list[tuple[int, int, float]]]:
    """One video, one kind: greedy one-to-one matching by IoU (highest first).

    Returns the counts and the matched (pred index, truth index, IoU) pairs."""
    pairs = sorted(
        ((iou(p, t, inclusive), i, j) for i, p in enumerate(pred) for j, t in enumerate(truth)), reverse=True
    )
    used_p, used_t, matched = set(), set(), []
    for v, i, j in pairs:
        if v < threshold:
            break
        if i in used_p or j in used_t:
            continue
        used_p.add(i)
        used_t.add(j)
        matched.append((i, j, v))
    return Counts(len(matched), len(pred) - len(matched), len(truth) - len(matched)), matched


def spotting_scores(
    videos: Iterable[tuple[Sequence[tuple[float, float, str]], Sequence[tuple[float, float, str]]]],
    threshold: float = 0.5,
    inclusive: bool = False,
) -> dict:
    """Pooled MEGC scores over videos, each given as (predicted, truth) lists of (start, end, kind).

    Returns {"micro": {...}, "macro": {...}, "overall": {...}} with tp, fp, fn, precision, recall, f1;
    "overall" pools the two kinds (a micro spot never matches a macro truth)."""
    total = {k: Counts() for k in KINDS}
    for pred, truth in videos:
        for k in KINDS:
            c, _ = match(
                [(s, e) for s, e, kk in pred if kk == k],
                [(s, e) for s, e, kk in truth if kk == k],
                threshold,
                inclusive,
            )
            total[k] += c
    overall = Counts()
    for c in total.values():
        overall += c
    return {**{k: c.to_dict() for k, c in total.items()}, "overall": overall.to_dict()}
