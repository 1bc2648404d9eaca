"""How far the annotators agree, on the groups of the merge (annotate.merge.group_clips).

* per AU: Cohen's kappa of every pair (on the groups both marked), their mean, and Fleiss' kappa
  (on the groups every annotator marked); presence coded 1/0 per group.
* onset / apex / offset: the differences of every pair in frames and in ms (the frames' own
  times), and the share within three frames, which the study counted as consistent.
* emotion: the share of groups where all agree, pairwise Cohen's and Fleiss' kappa over the labels.
* AU reliability as the study computed it ([10]: 2 |AU1 and AU2| / (|AU1| + |AU2|)), mean over pairs.
A kappa is None where it is undefined (every rating the same class): ``agreement`` then says
whether they all agreed.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from mestudio.annotate.media import Source, time_of
from mestudio.annotate.merge import Consensus, Group
from mestudio.annotate.rules import emotion_of

CONSISTENT_FRAMES = 3  # "difference within three frames was counted as consistent"


def cohen_kappa(a: Sequence, b: Sequence) -> float | None:
    """Cohen's kappa of two raters' labels of the same items (None: undefined)."""
    if len(a) != len(b) or not a:
        return None
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return None if pe >= 1.0 else (po - pe) / (1.0 - pe)


def fleiss_kappa(ratings: Sequence[Sequence]) -> float | None:
    """Fleiss' kappa: ``ratings[i]`` are the labels every rater gave item i (same count each)."""
    if not ratings or len({len(r) for r in ratings}) != 1 or len(ratings[0]) < 2:
        return None
    cats = sorted({x for r in ratings for x in r}, key=str)
    m = len(ratings[0])
    counts = np.array([[sum(x == c for x in r) for c in cats] for r in ratings], np.float64)
    p_i = (np.sum(counts * counts, axis=1) - m) / (m * (m - 1))
    p_j = counts.sum(axis=0) / counts.sum()
    pe = float(np.sum(p_j * p_j))
    return None if pe >= 1.0 else (float(p_i.mean()) - pe) / (1.0 - pe)


def _round(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(float(v), nd)


def _diffs(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"pairs": 0}
    a = np.abs(np.asarray(values, np.float64))
    return {
        "pairs": int(a.size),
        "mean": _round(a.mean(), 2),
        "median": _round(np.median(a), 2),
        "max": _round(a.max(), 2),
    }


def agreement(consensus: Consensus, source: Source) -> dict[str, Any]:
    names = consensus.annotators
    groups: list[Group] = consensus.groups
    full = [g for g in groups if len(g.members) == len(names)]
    pairs = list(itertools.combinations(names, 2))
    report: dict[str, Any] = {
        "annotators": names,
        "clips_per_annotator": {a: sum(a in g.members for g in groups) for a in names},
        "groups": len(groups),
        "marked_by_all": len(full),
        "consensus_clips": len(consensus.clips),
        "minority_groups": [
            {"annotators": sorted(g.members), "onset": min(c.onset for c in g.members.values())}
            for g in consensus.minority
        ],
    }
    frames: dict[str, Any] = {}
    for phase in ("onset", "apex", "offset"):
        df, dms, within = [], [], 0
        for a, b in pairs:
            for g in groups:
                if a in g.members and b in g.members:
                    fa, fb = getattr(g.members[a], phase), getattr(g.members[b], phase)
                    if fa is None or fb is None:
                        continue
                    df.append(fa - fb)
                    dms.append(1e3 * (time_of(source, fa) - time_of(source, fb)))
                    within += abs(fa - fb) <= CONSISTENT_FRAMES
        frames[phase] = {
            "frames": _diffs(df),
            "ms": _diffs(dms),
            "within_3_frames": _round(within / len(df)) if df else None,
        }
    report["frames"] = frames
    aus = sorted({a.number for g in groups for c in g.members.values() for a in c.aus if not a.reference})
    per_au: dict[str, Any] = {}
    for au in aus:

        def has(g: Group, who: str, au: int = au) -> int:
            return int(au in g.members[who].au_numbers)

        pair_k = {}
        for a, b in pairs:
            both = [g for g in groups if a in g.members and b in g.members]
            pair_k[f"{a}/{b}"] = _round(cohen_kappa([has(g, a) for g in both], [has(g, b) for g in both]))
        defined = [k for k in pair_k.values() if k is not None]
        ratings = [[has(g, w) for w in names] for g in full]
        per_au[f"AU{au}"] = {
            "cohen": pair_k,
            "cohen_mean": _round(float(np.mean(defined))) if defined else None,
            "fleiss": _round(fleiss_kappa(ratings)),
            "agreement": _round(float(np.mean([len(set(r)) == 1 for r in ratings]))) if ratings else None,
            "marked": sum(has(g, w) for g in groups for w in g.members),
        }
    report["aus"] = per_au
    rel = []
    for a, b in pairs:
        for g in groups:
            if a in g.members and b in g.members:
                sa, sb = set(g.members[a].au_numbers), set(g.members[b].au_numbers)
                if sa or sb:
                    rel.append(2 * len(sa & sb) / (len(sa) + len(sb)))
    report["au_reliability"] = _round(float(np.mean(rel))) if rel else None
    emos = [[emotion_of(g.members[w]) for w in names] for g in full]
    emo_pairs: dict[str, float | None] = {}
    for a, b in pairs:
        both = [g for g in groups if a in g.members and b in g.members]
        ea, eb = [emotion_of(g.members[a]) for g in both], [emotion_of(g.members[b]) for g in both]
        emo_pairs[f"{a}/{b}"] = _round(cohen_kappa(ea, eb))
    report["emotion"] = {
        "all_agree": _round(float(np.mean([len(set(r)) == 1 for r in emos]))) if emos else None,
        "fleiss": _round(fleiss_kappa(emos)),
        "cohen": emo_pairs,
    }
    return report


def format_report(rep: dict[str, Any]) -> list[str]:
    lines = [
        f"{len(rep['annotators'])} annotators ({', '.join(rep['annotators'])}): "
        f"{rep['groups']} expressions marked, {rep['marked_by_all']} by all, {rep['consensus_clips']} in the consensus"
    ]
    for phase, d in rep["frames"].items():
        f, ms = d["frames"], d["ms"]
        if f.get("pairs"):
            lines.append(
                f"  {phase:<6} differences: mean {f['mean']} frames ({ms['mean']} ms), max {f['max']} frames; "
                f"within 3 frames {100 * (d['within_3_frames'] or 0):.0f} %"
            )
    for au, d in rep["aus"].items():
        lines.append(
            f"  {au:<5} Fleiss' kappa {d['fleiss']}, mean Cohen's kappa {d['cohen_mean']}, marked {d['marked']}x"
        )
    e = rep["emotion"]
    lines.append(f"  emotion: all agree on {e['all_agree']} of the groups, Fleiss' kappa {e['fleiss']}")
    lines.append(f"  AU reliability (the study's formula): {rep['au_reliability']}")
    return lines
