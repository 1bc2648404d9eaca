"""Small generated ME clips with known AUs and emotions, for tests, `mestudio evaluate` demos
and smoke training. A drawn face (brows, eyes, cheeks, mouth, chin) whose features move as the
AUs of the sample rise to an apex and fall back; subjects differ in face size, position,
contrast and noise, so subject-independent folds are meaningful.

These are not faces; the synthetic face rig (capture/face) renders real ones. The AU sets per
emotion below are the generator's own prototypes, not the study's AU-to-emotion table.
"""

from __future__ import annotations

import numpy as np

from mestudio.analysis.datasets.aus import AUCode
from mestudio.analysis.datasets.samples import LabelBook, Sample

PROTOTYPES: dict[str, tuple[tuple[int, ...], ...]] = {
    "Positive": ((12,), (6, 12)),
    "Negative": ((4,), (4, 7), (1, 4)),
    "Surprise": ((1, 2),),
    "Repression": ((17,), (12, 17)),
    "Others": ((6,), (45,)),
}


def _draw(size: int, geo: dict, a: dict[int, float]) -> np.ndarray:
    """One frame; ``a`` maps AU -> level in [0, 1]."""
    import cv2

    s = size / 64.0 * geo["scale"]
    cx, cy = size / 2 + geo["dx"], size / 2 + geo["dy"]
    img = np.full((size, size), geo["bg"], np.float32)
    p = lambda x, y: (int(round(cx + x * s)), int(round(cy + y * s)))  # noqa: E731
    cv2.ellipse(img, p(0, 0), (int(22 * s), int(28 * s)), 0, 0, 360, geo["skin"], -1)
    ink = geo["ink"]
    for side in (-1, 1):
        inner_up = 3 * a.get(1, 0) - 2 * a.get(4, 0)
        outer_up = 3 * a.get(2, 0) - 1 * a.get(4, 0)
        squeeze = 2 * a.get(4, 0)
        cv2.line(
            img, p(side * (4 + squeeze * 0.5), -13 - inner_up), p(side * 14, -14 - outer_up), ink, max(1, int(2 * s))
        )
        open_h = max(0.0, 3.0 * (1 - a.get(45, 0)) - 1.5 * a.get(7, 0))
        cv2.ellipse(img, p(side * 9, -6), (int(4 * s), max(0, int(round(open_h * s)))), 0, 0, 360, ink, -1)
        cheek_y = 4 - 3 * a.get(6, 0)
        cv2.circle(img, p(side * 11, cheek_y), max(1, int(3 * s)), geo["skin"] + 25, -1)
    corner = 4 * a.get(12, 0)
    chin = 3 * a.get(17, 0)
    cv2.line(img, p(-9, 12 - corner), p(0, 13 - chin * 0.5), ink, max(1, int(2 * s)))
    cv2.line(img, p(0, 13 - chin * 0.5), p(9, 12 - corner), ink, max(1, int(2 * s)))
    cv2.ellipse(img, p(0, 22 - chin), (int(6 * s), max(1, int(2 * s))), 0, 0, 180, ink * 0.5 + geo["skin"] * 0.5, -1)
    return img


def make_clip(
    aus: tuple[int, ...], rng: np.random.Generator, geo: dict, size: int = 64, frames: int | None = None
) -> tuple[np.ndarray, int, int, int]:
    """(T, H, W) uint8 clip with onset at frame 0, its apex, offset at T-1."""
    t = int(frames or rng.integers(8, 17))
    apex = int(rng.integers(max(1, t // 3), max(2, 2 * t // 3) + 1))
    amp = float(rng.uniform(0.6, 1.0))
    out = np.empty((t, size, size), np.uint8)
    for i in range(t):
        lvl = amp * (i / apex if i <= apex else (t - 1 - i) / max(1, t - 1 - apex))
        img = _draw(size, geo, {a: lvl for a in aus})
        img += rng.normal(0, geo["noise"], img.shape).astype(np.float32)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out, 0, apex, t - 1


def synthetic_dataset(
    n_subjects: int = 10, clips_per_subject: int = 8, size: int = 64, seed: int = 0, frames: int | None = None
) -> tuple[LabelBook, list[np.ndarray]]:
    """A label book and its clips; emotions cycle so that every subject shows several classes."""
    rng = np.random.default_rng(seed)
    names = list(PROTOTYPES)
    samples, clips = [], []
    for si in range(n_subjects):
        geo = {
            "scale": rng.uniform(0.85, 1.15),
            "dx": rng.uniform(-3, 3),
            "dy": rng.uniform(-3, 3),
            "bg": rng.uniform(20, 60),
            "skin": rng.uniform(140, 200),
            "ink": rng.uniform(20, 70),
            "noise": rng.uniform(2, 6),
        }
        for ci in range(clips_per_subject):
            emo = names[(si + ci) % len(names)]
            protos = PROTOTYPES[emo]
            aus = protos[int(rng.integers(len(protos)))]
            clip, on, ap, off = make_clip(aus, rng, geo, size, frames)
            samples.append(
                Sample(
                    "synthetic",
                    f"s{si:02d}",
                    f"s{si:02d}_{ci:02d}",
                    on,
                    ap,
                    off,
                    tuple(AUCode(a) for a in aus),
                    (emo,),
                    emo,
                )
            )
            clips.append(clip)
    return LabelBook(samples, f"synthetic(seed={seed})"), clips
