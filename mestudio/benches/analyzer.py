"""Analyzer speed on one core: face + spotting + per-frame AUs frames/s on 640x480 against the
face-landmark model alone (the baseline, same run, same frames), AU + emotion ms per event, and
`analyze` speed as a multiple of real time.  Frames are the synthetic face rig's (a real
photograph with scripted AUs).

Real clips (../shared/data/videos, skipped when absent): per-AU Pearson r of the per-frame AU
intensities against OpenFace 2's output for the same clip (the reference is another tool, not
human labels), the events each clip gives, and false spots per minute on the neutral talking clip."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

NAME = "analyzer"
HELP = "face + spotting fps on 640x480 on one core vs mediapipe face mesh alone; AU+emotion ms; analyze x real time"
FPS = 60.0


def _frames(n: int):
    import numpy as np

    from mestudio.capture.face.render import FaceView, source_gray
    from mestudio.capture.face.script import default_script

    script = default_script(n / FPS + 1, seed=0)
    view = FaceView(640, 480, 0.0, seed=1)
    return np.stack([view.render(script, i / FPS, i, source_gray()) for i in range(n)])


def _pin_one_core() -> int:
    cpu = sorted(os.sched_getaffinity(0))[-1]
    os.sched_setaffinity(0, {cpu})  # threads started from now on (mediapipe's, OpenCV's) share it
    import cv2

    cv2.setNumThreads(1)
    return cpu


def _baseline_fps(frames, max_faces: int) -> float:
    import cv2
    from mediapipe.python.solutions import face_mesh

    with face_mesh.FaceMesh(static_image_mode=False, max_num_faces=max_faces, refine_landmarks=True) as fm:
        fm.process(cv2.cvtColor(frames[0], cv2.COLOR_GRAY2RGB))
        t = time.perf_counter()
        for f in frames:
            fm.process(cv2.cvtColor(f, cv2.COLOR_GRAY2RGB))
        return len(frames) / (time.perf_counter() - t)


def _pipeline_fps(frames, settings) -> tuple[float, int]:
    from mestudio.analysis.analyzer.pipeline import Analyzer

    with Analyzer(settings, FPS) as a:
        a.process(frames[0], 0, 0.0)
        t = time.perf_counter()
        for i, f in enumerate(frames[1:], start=1):
            a.process(f, i, i / FPS)
        fps = (len(frames) - 1) / (time.perf_counter() - t)
        a.finish()
        return fps, len(a.events)


def _latency(settings) -> float:
    from mestudio.analysis.analyzer.scales import ScaleBank

    s = settings
    return ScaleBank(s.method, FPS, s.micro_k_s, s.macro_k_s, s.z_high, s.z_low).latency_s()


def _au_emotion_ms(repeats: int = 200) -> float:
    import numpy as np

    from mestudio.analysis.au import MEASURES, LandmarkAUEstimator
    from mestudio.analysis.emotion import emotion_from_aus

    rng = np.random.default_rng(0)
    est = LandmarkAUEstimator(FPS)
    for _ in range(60):
        est.observe_quiet(rng.normal(0, 0.2, len(MEASURES)).astype(np.float32))
    series = rng.normal(0, 0.2, (24, len(MEASURES))).astype(np.float32)
    series[8:16, 8] += 3.0  # lip corners up: AU12
    t = time.perf_counter()
    for _ in range(repeats):
        emotion_from_aus(est.estimate(series, 0.4).aus)
    return (time.perf_counter() - t) / repeats * 1000


def _offline_x_realtime(frames, settings) -> float:
    import json

    from mestudio.analysis.analyzer.offline import analyze_session
    from mestudio.stream.session import FORMAT, SessionWriter

    with tempfile.TemporaryDirectory(prefix="mestudio-bench-") as d:
        root = Path(d)
        (root / "manifest.json").write_text(
            json.dumps(
                {
                    "format": FORMAT,
                    "devices": [{"name": "face", "kind": "synthetic-camera", "fps": FPS}],
                    "config": {"analyzer": {}},
                }
            )
        )
        w = SessionWriter(root)
        s = w.stream("face", "|u1", frames.shape[1:], "mono8")
        for i, f in enumerate(frames):
            s.append(i, None, int(i * 1e9 / FPS), f.tobytes())
        w.close()
        return analyze_session(root, settings)["speed_x_realtime"]


def run(args) -> dict:
    from mestudio.analysis.settings import AnalyzerSettings

    quick = getattr(args, "quick", False)
    n, repeats = (180, 1) if quick else (600, 3)
    cpu = _pin_one_core()
    frames = _frames(n)
    settings = AnalyzerSettings()
    variants = {
        "default": settings,
        "micro_only": settings.model_copy(update={"macro": False}),
        "lbp": settings.model_copy(update={"method": "lbp"}),
    }
    # every variant once per round, best of `repeats` rounds: all see the same load on average,
    # and another process can only ever slow a run down
    best = {"baseline": 0.0, "baseline_two": 0.0, **{k: 0.0 for k in variants}}
    events = 0
    for _ in range(repeats):
        best["baseline"] = max(best["baseline"], _baseline_fps(frames, settings.max_faces))
        best["baseline_two"] = max(best["baseline_two"], _baseline_fps(frames, 2))
        for name, st in variants.items():
            f, ev = _pipeline_fps(frames, st)
            best[name] = max(best[name], f)
            events = ev if name == "default" else events
    base, base_two, fps = best["baseline"], best["baseline_two"], best["default"]
    no_macro, lbp = best["micro_only"], best["lbp"]
    return {
        "frames": n,
        "frame_size": "640x480 mono8",
        "cpu": f"one core (cpu {cpu})",
        "measure": f"best of {repeats} rounds, every variant once per round",
        "baseline_face_mesh_fps": round(base, 1),
        "baseline_face_mesh_max_two_faces_fps": round(base_two, 1),
        "face_spotting_fps": round(fps, 1),
        "face_spotting_x_realtime_60fps": round(fps / FPS, 2),
        "ratio_to_baseline": round(fps / base, 3),
        "face_spotting_micro_scale_only_fps": round(no_macro, 1),
        "face_spotting_latency_s": _latency(settings),
        "face_spotting_lbp_fps": round(lbp, 1),
        "events_in_run": events,
        "au_emotion_ms_per_event": round(_au_emotion_ms(), 3),
        "offline_analyze_x_realtime": _offline_x_realtime(frames, settings),
        "target": ">= 120 fps (2x real time at 60 fps)",
        "real_clips": _real_clips(quick),
    }


def shared_data() -> Path:
    """../shared/data beside the checkout (MESTUDIO_SHARED points elsewhere at ../shared)."""
    root = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("MESTUDIO_SHARED") or root.parent / "shared") / "data"


# development clips and their OpenFace 2 reference, where there is one
CLIPS = {
    "openface_change_lighting.wmv": "openface2_change_lighting.csv",
    "pyfeat_single_face.mp4": None,
    "openface_neutral_talk.avi": None,
}
ACTIVE_STD = 0.2  # an AU the reference moves: its intensity's SD over the clip at least this


def _event_line(e: dict) -> str:
    aus = "+".join(f"AU{a}" for a in e["aus"]) or "-"
    return f"{e['kind']} frames {e['onset_frame']}-{e['offset_frame']} {aus} {e['emotion']}"


def _real_clips(quick: bool = False) -> dict:
    data = shared_data()
    if not (data / "videos").is_dir():
        return {"skipped": f"{data / 'videos'} is not here (../shared data absent)"}
    import pandas as pd

    from mestudio.analysis.analyzer.offline import analyze_input
    from mestudio.analysis.analyzer.sources import open_input
    from mestudio.analysis.evaluation.openface import per_au_r, read_au_table, summary
    from mestudio.analysis.settings import AnalyzerSettings

    out = {}
    for name, ref in CLIPS.items():
        if quick and name == "openface_neutral_talk.avi":  # the long one: not in a smoke run
            continue
        path = data / "videos" / name
        if not path.is_file():
            out[name] = {"skipped": "absent"}
            continue
        with open_input(path) as src:
            rep = analyze_input(src, AnalyzerSettings())
        spots = [e for e in rep["events"] if e["kind"] in ("micro", "macro")]
        minutes = rep["frames"] / rep["fps"] / 60
        clip = {
            "frames": rep["frames"],
            "frames_with_face": rep["frames_with_face"],
            "events": [_event_line(e) for e in rep["events"]],
            "suppressed": len(rep["suppressed"]),
            "spots_per_min": round(len(spots) / minutes, 1) if minutes else None,
        }
        if ref and (data / "reference" / ref).is_file():
            theirs = read_au_table(data / "reference" / ref)
            r = per_au_r(pd.DataFrame(rep["au_frames"]), theirs)
            active = {a: v for a, v in r.items() if float(theirs[f"AU{a:02d}_r"].std()) >= ACTIVE_STD}
            clip.update(
                reference=f"OpenFace 2 ({ref})",
                per_au_r={f"AU{a:02d}": v for a, v in r.items()},
                **summary(r),
                active_aus=[f"AU{a:02d}" for a in active],
                active_mean_r=summary(active)["mean_r"],
                target="mean r >= 0.6 over shared AUs, brows (AU01, AU02, AU04) >= 0.5",
            )
        out[name] = clip
    return out
