"""The synthetic 4D set: ME clips of mesh sequences from the analytic face rig
(analysis.fourd.synthetic), several identities, each clip's AUs known and its emotion Table 4's
(analysis.emotion.table), rendered as the study's views: (3 profiles, 3 domains, T, S, S) uint8.

The emotions cycle through the subjects (clip c of subject s shows emotion (s + c) mod 5, with
one of its AU combinations drawn at random) so that every subject shows several emotions and
subject-independent folds are meaningful.
"""

from __future__ import annotations

import numpy as np

from mestudio.analysis.datasets.aus import AUCode
from mestudio.analysis.datasets.samples import LabelBook, Sample


def synthetic4d_dataset(
    n_subjects: int = 10,
    clips_per_subject: int = 8,
    size: int = 64,
    seed: int = 0,
    frames: int = 12,
    yaw_deg: float = 45.0,
) -> tuple[LabelBook, list[np.ndarray]]:
    """A label book and its clips' views, in the same order."""
    from mestudio.analysis.emotion.table import emotion_from_aus
    from mestudio.analysis.fourd.synthetic import COMBOS, FaceRig, Identity, clip_meshes
    from mestudio.analysis.fourd.views import views_of_sequence

    rng = np.random.default_rng(seed)
    groups: dict[str, list[tuple[int, ...]]] = {}
    for combo in COMBOS:
        groups.setdefault(emotion_from_aus(combo).label, []).append(combo)
    names = sorted(groups)
    samples, clips = [], []
    for si in range(n_subjects):
        rig = FaceRig(Identity.random(rng))
        for ci in range(clips_per_subject):
            group = groups[names[(si + ci) % len(names)]]
            aus = group[int(rng.integers(len(group)))]
            meshes, apex = clip_meshes(rig, aus, rng, frames)
            clips.append(views_of_sequence(meshes, size, yaw_deg, landmarks="vertices").frames)
            emo = emotion_from_aus(aus)
            samples.append(
                Sample(
                    "synthetic4d",
                    f"s{si:02d}",
                    f"s{si:02d}_{ci:02d}",
                    0,
                    apex,
                    frames - 1,
                    tuple(AUCode(a) for a in aus),
                    emo.emotions,
                    emo.label,
                )
            )
    return LabelBook(samples, f"synthetic4d(seed={seed})"), clips
