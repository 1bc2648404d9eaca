"""The microphone's samples, from a session's audio stream or a video file's audio track, as
speech segments on the frames' clock.

Session: each recorded block carries its host time (the clock of the face camera's frames), so
segments are placed block by block; a lost block is a gap, not a shift.  Video file: the audio
track's presentation times, from the first video frame's (the frames' t = 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mestudio.analysis.speech.vad import VoiceActivity
from mestudio.stream.session_reader import SessionReader


def audio_stream_id(reader: SessionReader, wanted: str = "") -> str | None:
    """The microphone's stream: ``wanted``, else the first audio stream recorded."""
    ids = reader.stream_ids()
    if wanted:
        return wanted if wanted in ids else None
    for sid in ids:
        info = reader.stream(sid).info
        if info.get("media") == "audio" or info.get("pixel_format") in ("s16le", "f32le"):
            return sid
    return None


def session_speech(reader: SessionReader, stream_id: str) -> tuple[list[tuple[float, float]], dict]:
    """Speech segments (host seconds) of a recorded audio stream, and what was read."""
    sr = reader.stream(stream_id)
    info = sr.info
    block = int(info["shape"][0])
    rate = int((info.get("settings") or {}).get("sample_rate") or round(float(info.get("rate_hz", 0)) * block))
    vad = VoiceActivity(rate)
    segs: list[tuple[float, float]] = []
    blocks = 0
    for rec, frame in sr.frames():
        # host_time_ns of a block: when its first sample was captured (the device's convention)
        segs += vad.push(np.asarray(frame).reshape(block, -1), int(rec["host_time_ns"]) / 1e9)
        blocks += 1
    segs += vad.flush()
    return segs, {"source": stream_id, "sample_rate": rate, "blocks": blocks}


def video_speech(path: str | Path, t0: float | None) -> tuple[list[tuple[float, float]], dict] | None:
    """Speech segments of a video file's first audio track on its video's clock (None: no audio)."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        a = c.streams.audio[0]
        rate = int(a.rate or 0)
        if rate <= 0:
            return None
        vad = VoiceActivity(rate)
        segs: list[tuple[float, float]] = []
        offset = t0 or 0.0
        for f in c.decode(a):
            x = f.to_ndarray()
            x = x.reshape(-1, len(f.layout.channels)) if f.format.is_packed else x.T
            segs += vad.push(x.astype(np.float32), float(f.time or 0.0) - offset)
        segs += vad.flush()
    return segs, {"source": f"{Path(path).name}: audio track", "sample_rate": rate}
