"""A recorded stream as the files other tools read: lossless video (FFV1 in Matroska) and WAV.

Video keeps every pixel (mono8 -> gray, depth16 -> gray16le, colour -> bgr0) and every frame's
timing: each frame's presentation time is its recorded host time, in ms from the session's t0,
so a player, OpenCV or ffprobe sees the same pace as the recording (gaps included).
The per-frame timestamps stay in the session's timestamps.csv beside it.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import numpy as np

from mestudio.stream.errors import SessionError
from mestudio.stream.session_reader import SessionReader

# recorded pixel format -> (PyAV input format, FFV1 storage format)
VIDEO_FORMATS = {
    "mono8": ("gray", "gray"),
    "depth16": ("gray16le", "gray16le"),
    "rgb8": ("rgb24", "bgr0"),
    "bgr8": ("bgr24", "bgr0"),
}


class ExportError(SessionError):
    """A stream that cannot be exported as asked (the message says why)."""


def export_video(reader: SessionReader, stream_id: str, path: str | Path, damaged: list[str] | None = None) -> Path:
    """Write one video or depth stream to ``path`` (.mkv), lossless; returns the path.  A frame
    damaged on disk is left out (its time stays empty) and said in ``damaged``."""
    import av

    st = reader.stream(stream_id)
    fmt = st.info.get("pixel_format", "")
    if fmt not in VIDEO_FORMATS:
        raise ExportError(f"{stream_id}: pixel format {fmt!r} is not video (exportable: {', '.join(VIDEO_FORMATS)})")
    if len(st) == 0:
        raise ExportError(f"{stream_id}: no frames recorded")
    src_fmt, dst_fmt = VIDEO_FORMATS[fmt]
    h, w = st.info["shape"][:2]
    t0 = int(reader.manifest.get("t0_host_ns", int(st.index["host_time_ns"][0])))
    path = Path(path)
    with av.open(str(path), "w", format="matroska") as out:
        vs = out.add_stream("ffv1", rate=Fraction(round(float(st.info.get("rate_hz") or 30) * 1000), 1000))
        vs.width, vs.height, vs.pix_fmt = w, h, dst_fmt
        vs.time_base = Fraction(1, 1000)
        vs.codec_context.options = {"level": "3", "slicecrc": "1"}  # per-slice CRCs: damage is detectable
        last = -1
        for rec, data, why in st.frames_or_damage():
            if data is None:
                if damaged is not None:
                    damaged.append(str(why))
                continue
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(data), format=src_fmt)
            if src_fmt != dst_fmt:
                frame = frame.reformat(format=dst_fmt)
            pts = max(last + 1, round((int(rec["host_time_ns"]) - t0) / 1e6))
            frame.pts, frame.time_base, last = pts, vs.time_base, pts
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return path


def export_audio(reader: SessionReader, stream_id: str, path: str | Path, damaged: list[str] | None = None) -> Path:
    """Write one int16 audio stream to ``path`` (.wav); a lost block, or one damaged on disk (said
    in ``damaged``), becomes silence of its length."""
    st = reader.stream(stream_id)
    if st.info.get("pixel_format") != "s16le":
        raise ExportError(f"{stream_id}: not an int16 audio stream (pixel format {st.info.get('pixel_format')!r})")
    settings = st.info.get("settings", {})
    rate = int(settings.get("sample_rate") or round(float(st.info["rate_hz"]) * st.info["shape"][0]))
    block, channels = st.info["shape"][0], st.info["shape"][1] if len(st.info["shape"]) > 1 else 1
    path = Path(path)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        expected = None
        for rec, data, why in st.frames_or_damage():
            if data is None:
                if damaged is not None:
                    damaged.append(str(why))
                continue
            seq = int(rec["seq"])
            if expected is not None and seq > expected:  # keep every later sample at its time
                wav.writeframes(np.zeros((seq - expected) * block * channels, "<i2").tobytes())
            wav.writeframes(np.ascontiguousarray(data, "<i2").tobytes())
            expected = seq + 1
    return path


def media_kind(info: dict) -> str:
    """ "video", "audio", or "" for a stream this module does not export."""
    fmt = info.get("pixel_format", "")
    return "video" if fmt in VIDEO_FORMATS else "audio" if fmt == "s16le" else ""
