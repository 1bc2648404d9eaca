"""The analyzer on the real clips in ../shared/data (skipped when absent): per-AU Pearson r of
the per-frame AU intensities against OpenFace 2's output for the same clip, and the spotting
each clip gives (the smile clip's smile, false spots per minute on the neutral talking clip).

OpenFace 2 is another tool, not human labels, and on the lighting clip its own traces follow the
light: the baseline measured in the same run is the frame's mean brightness alone taken as an
AU trace (``brightness_alone``: |r| with each reference AU).  Beside each AU's r are the share of
the reference that the light explains (``reference_vs_brightness``) and the r left once a
straight line in brightness is taken out of both tables (``r_light_removed``).  Nothing here is
fitted to the reference clip."""

from __future__ import annotations

import os
from pathlib import Path

NAME = "real_faces"
HELP = "per-AU r against OpenFace 2 on real clips (../shared/data), the light's share of it, spotting per clip"

# development clips and their OpenFace 2 reference, where there is one
CLIPS = {
    "openface_change_lighting.wmv": "openface2_change_lighting.csv",
    "pyfeat_single_face.mp4": None,
    "openface_neutral_talk.avi": None,
}
LONG_CLIP = "openface_neutral_talk.avi"  # not in a --quick run
SMILE_CLIP = "pyfeat_single_face.mp4"  # neutral, then a held smile: one AU12 Positive event
TALK_CLIP = "openface_neutral_talk.avi"  # neutral talking: every spot is a false one
ACTIVE_STD = 0.2  # an AU the reference moves: its intensity's SD over the clip at least this
LIT = 0.5  # a reference AU whose |r| with brightness reaches this follows the light (r^2 >= 0.25)
PRESENT_SHARE = 0.05  # an AU the reference marks present (AUxx_c = 1) in at least this share of frames
TARGET = "mean r >= 0.6 over shared AUs, brows (AU01, AU02, AU04) >= 0.5"


def shared_data() -> Path:
    """../shared/data beside the checkout (MESTUDIO_SHARED points elsewhere at ../shared)."""
    root = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("MESTUDIO_SHARED") or root.parent / "shared") / "data"


def _event_line(e: dict) -> str:
    aus = "+".join(f"AU{a}" for a in e["aus"]) or "-"
    return f"{e['kind']} frames {e['onset_frame']}-{e['offset_frame']} {aus} {e['emotion']}"


def _brightness(path: Path) -> dict[int, float]:
    """Frame number (1-based) -> the frame's mean grey level."""
    from mestudio.analysis.analyzer.sources import open_input

    with open_input(path) as src:
        return {i + 1: float(f.mean()) for i, _, f in src.frames() if f is not None}


def _mean(vals) -> float | None:
    vals = [v for v in vals if v is not None]
    return round(sum(vals) / len(vals), 3) if vals else None


def agreement(ours, theirs, brightness: dict[int, float]) -> dict:
    """Per-AU figures and their summaries for one clip against its reference table."""
    from mestudio.analysis.evaluation.openface import BROWS, covariate_r, partial_r, per_au_r, summary

    r = per_au_r(ours, theirs)
    lit = covariate_r(theirs, brightness)
    rest = partial_r(ours, theirs, brightness)
    per_au = {}
    for a, v in r.items():
        sd = float(theirs[f"AU{a:02d}_r"].std())
        c = f"AU{a:02d}_c"
        share = round(float(theirs[c].mean()), 3) if c in theirs.columns else None
        per_au[f"AU{a:02d}"] = {
            "r": v,
            "r_light_removed": rest.get(a),
            "reference_vs_brightness": lit.get(a),
            "reference_sd": round(sd, 3),
            "active": sd >= ACTIVE_STD,
            "reference_present_share": share,
        }
    active = {a: v for a, v in r.items() if per_au[f"AU{a:02d}"]["active"]}
    present = {a: v for a, v in r.items() if (per_au[f"AU{a:02d}"]["reference_present_share"] or 0) >= PRESENT_SHARE}
    unlit = {a: v for a, v in active.items() if abs(lit.get(a) or 0.0) < LIT}
    return {
        "per_au": per_au,
        **summary(r),
        "present_aus": [f"AU{a:02d}" for a in present],
        "present_mean_r": summary(present)["mean_r"],
        "active_aus": [f"AU{a:02d}" for a in active],
        "active_mean_r": summary(active)["mean_r"],
        "active_unlit_aus": [f"AU{a:02d}" for a in unlit],
        "active_unlit_mean_r": summary(unlit)["mean_r"],
        "mean_r_light_removed": _mean(rest.values()),
        "brow_mean_r_light_removed": _mean(v for a, v in rest.items() if a in BROWS),
        "brightness_alone_mean_abs_r": _mean(abs(v) for a, v in lit.items() if a in r and v is not None),
        "target": TARGET,
    }


def _with_voice(path: Path, minutes: float, settings) -> dict:
    """The talking clip again with a voice over its whole length (it has no audio track: the
    talking session it stands for would have its microphone), speech awareness on."""
    from mestudio.analysis.analyzer.offline import run_frames
    from mestudio.analysis.analyzer.sources import VideoFile, open_input

    settings = settings.model_copy(update={"speech": "suppress"})
    with open_input(path) as src:
        first = (src.first_time() if isinstance(src, VideoFile) else None) or 0.0
        voice = ([(first - 1.0, first + minutes * 60 + 1.0)], {"source": "a voice over the whole clip"})
        run = run_frames(src.frames(), settings, src.fps, src.count, speech=voice)
    spots = [m for m in run["messages"] if m["type"] == "event" and m["kind"] in ("micro", "macro")]
    for e in spots:  # a video's frames are numbered from its first (seq 0)
        e.update({f"{k}_frame": e[f"{k}_seq"] + 1 for k in ("onset", "apex", "offset")})
    return {
        "false_spots_per_min_with_voice": round(len(spots) / minutes, 1) if minutes else None,
        "speech_suppressed_with_voice": run["speech"]["suppressed"],
        "events_with_voice": [_event_line(e) for e in spots],
    }


def real_clips(quick: bool = False, settings=None) -> dict:
    """Every development clip through the analyzer (``settings``: AnalyzerSettings, the defaults
    when None)."""
    data = shared_data()
    if not (data / "videos").is_dir():
        return {"skipped": f"{data / 'videos'} is not here (../shared data absent)"}
    import pandas as pd

    from mestudio.analysis.analyzer.offline import analyze_input
    from mestudio.analysis.analyzer.sources import open_input
    from mestudio.analysis.evaluation.openface import read_au_table
    from mestudio.analysis.settings import AnalyzerSettings

    out: dict[str, dict] = {}
    for name, ref in CLIPS.items():
        if quick and name == LONG_CLIP:
            continue
        path = data / "videos" / name
        if not path.is_file():
            out[name] = {"skipped": "absent"}
            continue
        with open_input(path) as src:
            rep = analyze_input(src, settings or AnalyzerSettings())
        spots = [e for e in rep["events"] if e["kind"] in ("micro", "macro")]
        minutes = rep["frames"] / rep["fps"] / 60
        clip: dict = {
            "frames": rep["frames"],
            "frames_with_face": rep["frames_with_face"],
            "events": [_event_line(e) for e in rep["events"]],
            "suppressed": len(rep["suppressed"]),
            "spots_per_min": round(len(spots) / minutes, 1) if minutes else None,
        }
        if name == SMILE_CLIP:
            clip["smile_found"] = any(12 in e["aus"] and e["emotion"] == "Positive" for e in spots)
        if name == TALK_CLIP:
            clip["false_spots_per_min"] = clip["spots_per_min"]
            clip["speech_suppressed"] = rep["speech"].get("suppressed", 0)
            clip.update(_with_voice(path, minutes, settings or AnalyzerSettings()))
        if ref and (data / "reference" / ref).is_file():
            theirs = read_au_table(data / "reference" / ref)
            clip.update(reference=f"OpenFace 2 ({ref})")
            clip.update(agreement(pd.DataFrame(rep["au_frames"]), theirs, _brightness(path)))
        out[name] = clip
    return out


def run(args) -> dict:
    return real_clips(getattr(args, "quick", False))
