"""Several annotators' labels -> the study's consensus (4DME section 3.3).

1. Clips of different annotators that overlap (intersection over union >= ``min_iou``, each
   annotator at most once) are the same expression: a *group*.
2. A group marked by a majority of the annotators becomes a consensus clip: onset, apex and
   offset are the median of the annotators' frames ("the median frame of the three is selected");
   an AU is kept when a majority of the group lists it (its intensity the median, its side and
   static mark by majority); the major AU by majority.
3. Its emotion is Table 4's for the consensus AUs, unless a majority of the group overrode it with
   the same emotion (their reasons are kept); micro/macro from the consensus duration; clips over
   4 s are static and, as in the study, left out of the label book.
Groups of a minority are listed, not dropped silently.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

from mestudio.analysis.datasets.aus import AUCode
from mestudio.annotate.errors import MergeError
from mestudio.annotate.labels import Clip, au_text
from mestudio.annotate.media import Source, time_of
from mestudio.annotate.rules import kind_of, table4

INTENSITIES = "ABCDE"


@dataclass
class Group:
    """The clips (one per annotator at most) taken to be one expression."""

    members: dict[str, Clip] = field(default_factory=dict)

    @property
    def onset(self) -> float:
        return _median([c.onset for c in self.members.values()])

    @property
    def offset(self) -> float:
        return _median([c.offset for c in self.members.values()])


@dataclass(frozen=True)
class ConsensusClip:
    name: str
    onset: int
    apex: int | None
    offset: int
    aus: tuple[AUCode, ...]
    major_au: int | None
    emotion: str  # "Positive", "Negative+Surprise", "None"
    emotion_rule: str  # Table 4's rule, or "override"
    kind: str  # micro, macro, static
    duration_s: float
    annotators: tuple[str, ...]
    members: dict[str, Clip]
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "onset": self.onset,
            "apex": self.apex,
            "offset": self.offset,
            "aus": au_text(self.aus),
            "major_au": self.major_au,
            "emotion": self.emotion,
            "emotion_rule": self.emotion_rule,
            "kind": self.kind,
            "duration_s": round(self.duration_s, 4),
            "annotators": list(self.annotators),
            "members": {a: {"clip": c.id, **c.fields()} for a, c in self.members.items()},
            "override_reasons": list(self.reasons),
            "notes": list(self.notes),
        }


def _median(values: list[int] | list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return float(v[n // 2]) if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def _median_frame(values: list[int]) -> int:
    """The median frame; of an even count the mean of the middle two, rounded half up (as [10]'s average)."""
    return int(math.floor(_median(values) + 0.5))


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two inclusive frame intervals."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]) + 1)


def group_clips(by_annotator: dict[str, list[Clip]], min_iou: float = 0.3) -> list[Group]:
    """Greedy, in onset order: each clip joins the best-overlapping group that lacks its annotator."""
    items = sorted(((c.onset, c.offset, a, c.id, c) for a, cs in by_annotator.items() for c in cs))
    groups: list[Group] = []
    active: list[tuple[int, Group]] = []  # (latest member offset, group): the groups a later clip can still overlap
    for on, off, ann, _, clip in items:
        active = [(end, g) for end, g in active if end >= on]  # onsets only grow: the others are behind
        best, best_iou = None, min_iou
        for _, g in active:
            if ann in g.members:
                continue
            v = iou((on, off), (g.onset, g.offset))
            if v >= best_iou:
                best, best_iou = g, v
        if best is None:
            best = Group()
            groups.append(best)
        best.members[ann] = clip
        active = [(end, g) for end, g in active if g is not best] + [
            (max(c.offset for c in best.members.values()), best)
        ]
    return sorted(groups, key=lambda g: (g.onset, g.offset))


def _majority(counter: collections.Counter, n: int) -> list:
    return [k for k, v in counter.items() if v * 2 > n]


def consensus_clip(name: str, group: Group, source: Source) -> ConsensusClip:
    clips = list(group.members.values())
    n = len(clips)
    onset = _median_frame([c.onset for c in clips])
    offset = _median_frame([c.offset for c in clips])
    apexes = [c.apex for c in clips if c.apex is not None]
    apex = _median_frame(apexes) if apexes else None
    if apex is not None:
        apex = min(max(apex, onset), offset)
    listed = collections.Counter(a.number for c in clips for a in c.aus if not a.reference)
    aus = []
    for number in sorted(_majority(listed, n), key=lambda k: _first_listed(clips, k)):
        codes = [a for c in clips for a in c.aus if a.number == number and not a.reference]
        grades = sorted(INTENSITIES.index(a.intensity) for a in codes if a.intensity)
        intensity = INTENSITIES[grades[(len(grades) - 1) // 2]] if grades else ""
        sides = collections.Counter(a.side for a in codes).most_common()
        side = sides[0][0] if len(sides) == 1 or sides[0][1] > sides[1][1] else ""
        static = sum(a.static for a in codes) * 2 > len(codes)
        aus.append(AUCode(number, side, intensity, False, static))
    kept = {a.number for a in aus}
    majors = collections.Counter(c.major for c in clips if c.major in kept)
    ranked = sorted(majors.items(), key=lambda kv: (-kv[1], kv[0] if kv[0] is not None else 0))
    major = ranked[0][0] if ranked else (aus[0].number if aus else None)
    draft = Clip(name, onset, offset, apex, tuple(aus), major)
    t4 = table4(draft)
    overrides = collections.Counter(c.emotion_override for c in clips if c.emotion_override)
    agreed = _majority(overrides, n)
    if agreed:
        emotion, rule = agreed[0], "override"
        reasons = tuple(f"{a}: {c.override_reason}" for a, c in group.members.items() if c.emotion_override == emotion)
    else:
        emotion, rule, reasons = t4.label, t4.rule, ()
    duration = time_of(source, offset) - time_of(source, onset)
    return ConsensusClip(
        name,
        onset,
        apex,
        offset,
        tuple(aus),
        major,
        emotion,
        rule,
        kind_of(duration),
        duration,
        tuple(sorted(group.members)),
        dict(sorted(group.members.items())),
        reasons,
        tuple(f"{a}: {c.note}" for a, c in sorted(group.members.items()) if c.note),
    )


def _first_listed(clips: list[Clip], number: int) -> tuple[int, int]:
    """Order of the consensus AUs: as the annotators listed them (earliest place, then number)."""
    places = [[a.number for a in c.aus].index(number) for c in clips if number in [a.number for a in c.aus]]
    return (min(places), number)


@dataclass
class Consensus:
    annotators: list[str]
    clips: list[ConsensusClip]
    minority: list[Group]  # groups too few annotators marked
    groups: list[Group]
    bad_changes: list[str]


def merge(
    labels: dict[str, list[Clip]], source: Source, min_iou: float = 0.3, bad_changes: list[str] | None = None
) -> Consensus:
    """The consensus of ``labels`` (annotator -> clips) on ``source``'s frames and times."""
    if not labels:
        raise MergeError("no annotator's labels to merge: annotate first (mestudio annotate ... --annotator NAME)")
    n = len(labels)
    groups = group_clips(labels, min_iou)
    clips: list[ConsensusClip] = []
    minority: list[Group] = []
    for g in groups:
        if len(g.members) * 2 > n:
            clips.append(consensus_clip(f"{source.stream_id}_{len(clips) + 1:03d}", g, source))
        else:
            minority.append(g)
    return Consensus(sorted(labels), clips, minority, groups, list(bad_changes or []))
