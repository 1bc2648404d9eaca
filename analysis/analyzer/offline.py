"""The analyzer over a recorded session, as fast as it can: `mestudio analyze SESSION`.

Frames are read straight from the session folder (stream.session.SessionReader) in recorded
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
from mestudio.analysis.settings import AnalyzerSettings, load_settings
from mestudio.stream.session import SessionReader


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
    messages: list[dict] = []
    t0 = time.perf_counter()
    n = len(sr)
    with Analyzer(settings, fps, log=log) as a:
        last = None
        for i, (rec, frame) in enumerate(sr.frames()):
            seq = int(rec["seq"])
            if start_seq is not None and seq < start_seq:
                continue
            if last is not None and seq != last + 1:  # a gap in the recording: as the live node does
                messages += a.gap()
            last = seq
            img = np.ascontiguousarray(frame)
            messages += a.process(img, seq, int(rec["host_time_ns"]) / 1e9)
            if progress is not None and i % 60 == 0:
                progress(i, n)
        messages += a.finish()
        notes, latency = a.notes, a.latency_s()
        with_face = a.frames_with_face
    wall = time.perf_counter() - t0
    span = (int(idx["host_time_ns"][-1]) - int(idx["host_time_ns"][0])) / 1e9 if n > 1 else 0.0
    seqs = idx["seq"].astype(np.int64)
    return {
        "session": str(reader.root),
        "stream": settings.stream,
        "method": settings.method,
        "fps": fps,
        "frames": n,
        "frames_with_face": with_face,
        "recording_gaps": int(np.sum(np.maximum(np.diff(seqs) - 1, 0))) if n > 1 else 0,
        "first_t": int(idx["host_time_ns"][0]) / 1e9 if n else 0.0,
        "last_t": int(idx["host_time_ns"][-1]) / 1e9 if n else 0.0,
        "wall_s": round(wall, 3),
        "speed_x_realtime": round(span / wall, 3) if wall > 0 else None,
        "latency_s": latency,
        "notes": notes,
        "events": [m for m in messages if m["type"] == "event"],
        "face": [m for m in messages if m["type"] == "face"],
        "messages": messages,
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
