"""Clips cut from a mestudio session: spotted or annotated intervals of one video stream.

An interval is a dict with ``onset_s`` and ``offset_s`` (session seconds, from the manifest's
``t0_host_ns``), optional ``apex_s``, ``aus`` (list of AU numbers or a "4+7" string),
``emotions`` and ``kind``. `intervals_from_events` collects them from events.jsonl records whose
``type`` (or ``kind``) is one of the given names, e.g. the analyzer's spotted events or an
operator's annotations.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from analysis.datasets.aus import AUCode, parse_aus
from analysis.datasets.errors import ClipNotFoundError
from analysis.datasets.samples import LabelBook, Sample, study_emotion


def _first(d: dict, *keys: str):
    return next((d[k] for k in keys if k in d and d[k] is not None), None)


def intervals_from_events(events: Iterable[dict], types: Sequence[str] = ("spot", "annotation")) -> list[dict]:
    """Records of events.jsonl that carry an interval and whose type is in ``types``."""
    out = []
    for e in events:
        body = e.get("body", e) if isinstance(e.get("body", e), dict) else e
        typ = _first(body, "type", "kind") or _first(e, "type", "kind")
        if typ not in types:
            continue
        on, off = _first(body, "onset_s", "start_s"), _first(body, "offset_s", "end_s")
        if on is None or off is None:
            continue
        out.append({**body, "onset_s": float(on), "offset_s": float(off)})
    return out


def _aus(v) -> tuple[AUCode, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return parse_aus(v)
    return tuple(AUCode(int(a)) for a in v)


def session_clips(session_dir: str | Path, stream_id: str, intervals: Sequence[dict],
                  subject: str | None = None) -> tuple[LabelBook, list[np.ndarray]]:
    """Cut each interval out of ``stream_id``; returns the samples and their (T, H, W) frames.

    Colour frames are turned to grayscale as the study used. Frame numbers in the samples are
    positions in the recorded stream.
    """
    from stream.session import SessionReader
    reader = SessionReader(session_dir)
    stream = reader.stream(stream_id)
    if len(stream) == 0:
        raise ClipNotFoundError(f"{session_dir}: stream {stream_id!r} has no frames")
    t0 = reader.manifest.get("t0_host_ns", int(stream.index["host_time_ns"][0]))
    times = (stream.index["host_time_ns"].astype(np.int64) - int(t0)) / 1e9
    subject = subject or str(reader.manifest.get("participant", "") or Path(session_dir).name)
    samples, clips = [], []
    for k, iv in enumerate(intervals):
        lo, hi = np.searchsorted(times, [iv["onset_s"], iv["offset_s"]], side="left")
        hi = min(int(hi), len(stream) - 1)
        if hi <= lo:
            raise ClipNotFoundError(f"{session_dir}: interval {iv['onset_s']:.3f}-{iv['offset_s']:.3f} s "
                                    f"holds no frames of {stream_id!r}")
        frames = np.stack([_gray(stream.frame(i), stream.info) for i in range(int(lo), hi + 1)])
        apex = None
        if iv.get("apex_s") is not None:
            apex = int(np.searchsorted(times, iv["apex_s"]))
        emos = tuple(e for e in (study_emotion(x) for x in iv.get("emotions", ()) or ()) if e)
        samples.append(Sample("session", subject, f"{stream_id}#{k}", int(lo), apex, hi,
                              _aus(iv.get("aus")), emos, video=str(session_dir),
                              kind=str(iv.get("kind", "micro"))))
        clips.append(frames)
    return LabelBook(samples, session_dir), clips


def _gray(frame: np.ndarray, info: dict) -> np.ndarray:
    import cv2
    f = np.asarray(frame)
    if f.ndim == 3 and f.shape[2] == 1:
        f = f[:, :, 0]
    if f.ndim == 3:
        code = cv2.COLOR_RGB2GRAY if str(info.get("pixel_format", "")).lower().startswith("rgb") else cv2.COLOR_BGR2GRAY
        f = cv2.cvtColor(np.ascontiguousarray(f), code)
    if f.dtype != np.uint8:
        f = cv2.normalize(f.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return f
