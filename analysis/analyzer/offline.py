"""The analyzer over a recording, as fast as it can: `mestudio analyze INPUT`.

INPUT is a session folder, a video file or an image-sequence folder (sources.py); all go
through ``run_frames``, the same Analyzer loop the live node runs.

Frames are read straight from the session folder (stream.session_reader.SessionReader) in recorded
order, with their recorded host times, through the same Analyzer the live node runs; so the
events equal the live run's wherever the live analyzer saw every frame (it reports any frame it
could not see as a ``gap`` message, and ``compare_live`` says where the two differ).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mestudio.analysis.analyzer.errors import NoFaceStreamError
from mestudio.analysis.analyzer.pipeline import Analyzer
from mestudio.analysis.analyzer.sources import ImageSequence, VideoFile, first_named
from mestudio.analysis.au.intensity import FRAME_AUS, PRESENT_AT, au_columns
from mestudio.analysis.settings import AnalyzerSettings, load_settings
from mestudio.stream.session_reader import SessionReader


def session_settings(reader: SessionReader) -> AnalyzerSettings:
    """The `[analyzer]` section recorded in the session's manifest (defaults when absent)."""
    section = dict((reader.manifest.get("config") or {}).get("analyzer") or {})
    return load_settings(section, f"{reader.root}/manifest.json: [analyzer]")


def device_fps(devices: list[dict], stream_id: str) -> float | None:
    """The configured frame rate of the device section that publishes ``stream_id``."""
    for d in devices:
        name = d.get("name", "")
        ids = {name, f"{name}-color", f"{name}-depth"} | {f"{name}-{i}" for i in range(int(d.get("count", 0) or 0))}
        if stream_id in ids and d.get("fps"):
            return float(d["fps"])
    return None


def stream_fps(info: dict, host_ns: np.ndarray) -> float:
    """The stream's nominal rate, or its median frame interval when info.json has none."""
    rate = info.get("rate_hz")
    if rate:
        return float(rate)
    if len(host_ns) > 1:
        return float(1e9 / max(float(np.median(np.diff(host_ns.astype(np.int64)))), 1.0))
    return 30.0


def analyze_session(
    session_dir: str | Path,
    settings: AnalyzerSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    log=None,
    start_seq: int | None = None,
) -> dict:
    """Run the analyzer over the session's configured stream; all messages and a speed report.

    ``start_seq``: begin at this frame (the live analyzer's first frame, to reproduce its run)."""
    reader = SessionReader(session_dir)
    settings = settings or session_settings(reader)
    if settings.stream not in reader.stream_ids():
        raise NoFaceStreamError(
            f"{reader.root}: no stream {settings.stream!r} to analyse "
            f"(streams: {', '.join(reader.stream_ids()) or 'none'}); "
            "set [analyzer] stream to the face camera's name"
        )
    sr = reader.stream(settings.stream)
    if len(sr.info.get("shape", [])) not in (2, 3) or sr.info.get("dtype") != "|u1":
        raise NoFaceStreamError(
            f"{reader.root}: stream {settings.stream!r} is not 8-bit video "
            f"({sr.info.get('dtype')} {sr.info.get('shape')}); choose the face camera"
        )
    idx = sr.index
    # the same rate the live node used: [analyzer] fps, else the device's configured fps
    fps = (
        settings.fps
        or device_fps(reader.manifest.get("devices") or [], settings.stream)
        or stream_fps(sr.info, idx["host_time_ns"])
    )
    n = len(sr)

    damaged: list[str] = []

    def frames():
        for rec, frame, why in sr.frames_or_damage():
            seq = int(rec["seq"])
            if start_seq is None or seq >= start_seq:
                if why is not None:
                    damaged.append(why)
                yield seq, int(rec["host_time_ns"]) / 1e9, None if frame is None else np.ascontiguousarray(frame)

    speech = None
    if settings.speech != "off":
        from mestudio.analysis.speech.audio import audio_stream_id, session_speech

        mic = audio_stream_id(reader, settings.speech_stream)
        if settings.speech_stream and mic is None:
            raise NoFaceStreamError(
                f"{reader.root}: no stream {settings.speech_stream!r} for [analyzer] speech_stream "
                f"(streams: {', '.join(reader.stream_ids())})"
            )
        speech = session_speech(reader, mic) if mic else None
    run = run_frames(frames(), settings, fps, n, progress, log, speech)
    if damaged:
        run["notes"].insert(
            0,
            f"{reader.root}: {len(damaged)} frames damaged on disk, analysed as frames without a face "
            f"({first_named(damaged, '; ')}); `mestudio verify` names them all",
        )
    span = (int(idx["host_time_ns"][-1]) - int(idx["host_time_ns"][0])) / 1e9 if n > 1 else 0.0
    seqs = idx["seq"].astype(np.int64)
    number = {int(s): i + 1 for i, s in enumerate(seqs)}  # seq -> 1-based position in the recording
    wall = run["wall_s"]
    return {
        "input": str(reader.root),
        "input_kind": "session",
        "session": str(reader.root),
        "stream": settings.stream,
        "method": settings.method,
        "frontalize": settings.frontalize,
        "fps": fps,
        "frames": n,
        "frames_with_face": run["frames_with_face"],
        "frames_damaged": run["frames_damaged"],
        "recording_gaps": int(np.sum(np.maximum(np.diff(seqs) - 1, 0))) if n > 1 else 0,
        "first_t": int(idx["host_time_ns"][0]) / 1e9 if n else 0.0,
        "last_t": int(idx["host_time_ns"][-1]) / 1e9 if n else 0.0,
        "wall_s": round(wall, 3),
        "speed_x_realtime": round(span / wall, 3) if wall > 0 else None,
        "latency_s": run["latency_s"],
        "notes": run["notes"],
        "speech": run["speech"],
        "head_motion_suppressed": run["head_motion_suppressed"],
        "fusion": run["fusion"],
        **_results(run["messages"], number, int(idx["host_time_ns"][0]) / 1e9 if n else 0.0),
    }


def run_frames(
    frames, settings: AnalyzerSettings, fps: float, n: int | None = None, progress=None, log=None, speech=None
) -> dict:
    """The Analyzer over (seq, t, frame) in order, a gap wherever seq jumps (as the live node).
    ``speech``: (segments, description) of the microphone's voice activity, or None."""
    messages: list[dict] = []
    t0 = time.perf_counter()
    with Analyzer(settings, fps, log=log) as a:
        if speech is not None:
            a.add_speech(speech[0])
        last = None
        for i, (seq, t, frame) in enumerate(frames):
            if last is not None and seq != last + 1:  # a gap in the recording: as the live node does
                messages += a.gap()
            last = seq
            messages += a.process(frame, seq, t) if frame is not None else a.damaged(seq, t)
            if progress is not None and i % 60 == 0:
                progress(i, n or 0)
        messages += a.finish()
        out = {"notes": a.notes, "latency_s": a.latency_s(), "frames_with_face": a.frames_with_face, "frames": a.frames}
        out["frames_damaged"] = a.frames_damaged
        out["speech"] = {
            "mode": settings.speech,
            **(
                {**speech[1], "segments": len(speech[0]), "seconds": round(a.speech.seconds, 2)}
                if speech is not None
                else {"source": None}
            ),
            "suppressed": a.speech_suppressed,
            "marked": a.speech_marked,
        }
        out["head_motion_suppressed"] = a.head_suppressed
        out["fusion"] = {"mode": settings.fusion, **a.fusion_counts}
    out.update(messages=messages, wall_s=round(time.perf_counter() - t0, 3))
    return out


def _results(messages: list[dict], number: dict[int, int], t_first: float) -> dict:
    """Events (with 1-based ``*_frame`` numbers), face messages, the per-frame AU table."""
    events = [m for m in messages if m["type"] == "event"]
    suppressed = [m["event"] for m in messages if m["type"] == "suppressed"]
    for e in events + suppressed:
        for k in ("onset", "apex", "offset"):
            e[f"{k}_frame"] = number.get(e[f"{k}_seq"], -1)
    return {
        "events": events,
        "suppressed": suppressed,  # events speech explains, kept here (analysis/speech)
        "face": [m for m in messages if m["type"] == "face"],
        "au_frames": au_rows(messages, number, t_first),
        "messages": messages,
    }


def au_rows(messages: list[dict], number: dict[int, int], t_first: float) -> list[dict]:
    """One row per analysed frame from the traces' ``au`` lists, in OpenFace 2's columns."""
    rows = []
    cols = au_columns()
    for m in messages:
        au = m.get("au") if m["type"] == "trace" else None
        if not au:
            continue
        for j, seq in enumerate(au["seq"]):
            r = [au[f"AU{a:02d}"][j] for a in FRAME_AUS]
            row = {"frame": number.get(seq, -1), "timestamp": round(au["t"][j] - t_first, 3)}
            row["success"] = au["success"][j]
            row.update(zip(cols, r + [int(v >= PRESENT_AT) for v in r]))
            rows.append(row)
    return rows


def write_au_csv(rows: list[dict], path: str | Path) -> None:
    """The per-frame AU table as CSV (frame, timestamp, success, AUxx_r..., AUxx_c...)."""
    import csv

    cols = ["frame", "timestamp", "success", *au_columns()]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)


EVENT_COLUMNS = (
    "kind", "onset_frame", "apex_frame", "offset_frame", "onset_s", "apex_s", "offset_s", "duration_s",
    "aus", "emotion", "method", "peak",
)  # fmt: skip


def write_events_csv(events: list[dict], path: str | Path) -> None:
    """One row per event; AUs as a label-book string ("6+12+25")."""
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(EVENT_COLUMNS)
        for e in events:
            w.writerow(["+".join(map(str, e["aus"])) if k == "aus" else e.get(k, "") for k in EVENT_COLUMNS])


def analyze_input(source: VideoFile | ImageSequence, settings: AnalyzerSettings, progress=None, log=None) -> dict:
    """The analyzer over a video file or an image folder: events, AU table and a speed report."""
    fps = settings.fps or source.fps
    speech = None
    if settings.speech != "off" and isinstance(source, VideoFile):
        from mestudio.analysis.speech.audio import video_speech

        speech = video_speech(source.path, source.first_time())
    run = run_frames(source.frames(), settings, fps, source.count, progress, log, speech)
    run["notes"] = source.notes() + run["notes"]
    frames = run["frames"]
    number = {i: i + 1 for i in range(frames)}
    results = _results(run["messages"], number, 0.0)
    rows = results["au_frames"]
    span = (rows[-1]["timestamp"] + 1.0 / fps) if rows else 0.0
    wall = run["wall_s"]
    return {
        "input": str(source.path),
        "input_kind": source.kind,
        "layout": source.layout,
        "stream": None,
        "method": settings.method,
        "frontalize": settings.frontalize,
        "fps": fps,
        "frames": frames,
        "frames_with_face": run["frames_with_face"],
        "frames_damaged": run["frames_damaged"],
        "rotation": getattr(source, "rotation", 0),
        "recording_gaps": 0,
        "first_t": 0.0,
        "last_t": rows[-1]["timestamp"] if rows else 0.0,
        "wall_s": wall,
        "speed_x_realtime": round(span / wall, 3) if wall > 0 else None,
        "latency_s": run["latency_s"],
        "notes": run["notes"],
        "speech": run["speech"],
        "head_motion_suppressed": run["head_motion_suppressed"],
        "fusion": run["fusion"],
        **results,
    }


def event_key(e: dict) -> tuple:
    return (e["kind"], e["onset_seq"], e["apex_seq"], e["offset_seq"], tuple(e["aus"]), e["emotion"])


def compare_live(offline_events: list[dict], live_bodies: list[dict]) -> dict:
    """Do the offline events equal the live run's?  Live gaps explain differences near them."""
    live = [b for b in live_bodies if b.get("type") == "event"]
    gaps = [b for b in live_bodies if b.get("type") == "gap"]
    a, b = {event_key(e) for e in offline_events}, {event_key(e) for e in live}
    return {
        "live_events": len(live),
        "offline_events": len(offline_events),
        "identical": a == b,
        "only_offline": len(a - b),
        "only_live": len(b - a),
        "live_gaps": len(gaps),
        "live_frames_missed": sum(int(g.get("missing", 0)) for g in gaps),
    }
