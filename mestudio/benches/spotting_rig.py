"""Spotting F1 on the synthetic face rig's scripts with the MEGC protocol, spotting fusion off and
on, over the same rendered frames (each frame rendered once and fed to both analyzers).

Scripts: ``default_script(40 s, seed)`` for seeds 0-5, 640x480 at 60 fps, the camera's view seed
seed + 1 (as a synthetic camera renders them); the thresholds were set on seeds 0-3, seeds 4-5
are held out.  Scoring: ``analysis.evaluation.compare.compare_events`` (IoU >= 0.5 with a
scripted interval of the same kind, the first 2 s and the last 1.5 s not counted), TP / FP / FN
pooled over each seed group, and how many weak flow candidates the AU streams confirmed
(docs/analyzer.md, "Spotting").  Both variants see the same frames, so the difference between
them is the fusion's alone."""

from __future__ import annotations

import tempfile
from pathlib import Path

NAME = "spotting_rig"
HELP = "spotting F1 (MEGC protocol) on the face rig's scripts, seeds 0-5, fusion off and on; quiet-time statistics"
FPS = 60.0
SECONDS = 40.0
DEV_SEEDS = (0, 1, 2, 3)
HELD_OUT = (4, 5)


def _variants(settings) -> dict:
    return {
        "fusion_off": settings.model_copy(update={"fusion": "off"}),
        "fusion_au": settings.model_copy(update={"fusion": "au"}),
    }


def _seed_events(seed: int, seconds: float, variants: dict) -> tuple[dict[str, list[dict]], object, dict]:
    from mestudio.analysis.analyzer.pipeline import Analyzer
    from mestudio.capture.face.render import FaceView, source_gray
    from mestudio.capture.face.script import default_script

    script = default_script(seconds, seed)
    script.epoch_host_ns = 0
    view = FaceView(640, 480, 0.0, seed=seed + 1)
    src = source_gray()
    view.warm(src)
    analyzers = {k: Analyzer(s, FPS) for k, s in variants.items()}
    out: dict[str, list[dict]] = {k: [] for k in variants}
    counts: dict[str, dict] = {}
    try:
        for i in range(int(seconds * FPS)):
            frame = view.render(script, i / FPS, i, src)
            for k, a in analyzers.items():
                out[k] += a.process(frame, i, i / FPS)
        for k, a in analyzers.items():
            out[k] += a.finish()
            counts[k] = dict(a.fusion_counts)
    finally:
        for a in analyzers.values():
            a.close()
    return out, script, counts


def _pooled(rows: list[dict], kind: str) -> dict:
    tp = sum(r["spotting"][kind]["tp"] for r in rows)
    fp = sum(r["spotting"][kind]["fp"] for r in rows)
    fn = sum(r["spotting"][kind]["fn"] for r in rows)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return {"tp": tp, "fp": fp, "fn": fn, "f1": round(f1, 2) if f1 is not None else None}


def rig_f1(seeds=DEV_SEEDS + HELD_OUT, seconds: float = SECONDS, settings=None) -> dict:
    from mestudio.analysis.evaluation.compare import compare_events
    from mestudio.analysis.settings import AnalyzerSettings

    variants = _variants(settings or AnalyzerSettings())
    per: dict[str, dict[int, dict]] = {k: {} for k in variants}
    fused: dict[str, dict[str, int]] = {k: {"weak_candidates": 0, "confirmed": 0} for k in variants}
    with tempfile.TemporaryDirectory(prefix="mestudio-rig-f1-") as d:
        for seed in seeds:
            events, script, counts = _seed_events(seed, seconds, variants)
            for k, c in counts.items():
                for name in fused[k]:
                    fused[k][name] += c[name]
            folder = Path(d) / f"seed{seed}"
            script.save(folder / "ground_truth" / "face_script.json")  # type: ignore[attr-defined]
            for k, evs in events.items():
                per[k][seed] = compare_events(evs, (0.0, seconds), folder)
    out: dict = {"seconds_per_script": seconds, "fps": FPS, "frame_size": "640x480 mono8"}
    for k, rows in per.items():
        groups = {
            "seeds_0_3": [rows[s] for s in seeds if s in DEV_SEEDS],
            "seeds_4_5": [rows[s] for s in seeds if s in HELD_OUT],
        }
        out[k] = {g: {kind: _pooled(rs, kind) for kind in ("micro", "macro")} for g, rs in groups.items() if rs}
        out[k]["fusion"] = fused[k]
        out[k]["per_seed"] = {
            str(s): {kind: r["spotting"][kind] for kind in ("micro", "macro")} for s, r in rows.items()
        }
    return out


def run(args) -> dict:
    quick = getattr(args, "quick", False)
    return rig_f1(seeds=(0,) if quick else DEV_SEEDS + HELD_OUT, seconds=12.0 if quick else SECONDS)
