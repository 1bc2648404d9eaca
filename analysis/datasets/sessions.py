"""Clips cut from a mestudio session: spotted or annotated intervals of one video stream.

An interval is a dict with either ``onset_seq``/``offset_seq`` (frame sequence numbers of the
stream, as the analyzer's events carry them) or ``onset_s``/``offset_s`` (seconds: session time
from the manifest's ``t0_host_ns``, or host time when ``time_base`` is "host"), optional
``apex_seq``/``apex_s``, ``aus`` (AU numbers or a "4+7" string), ``emotions`` and ``kind``.
`intervals_from_events` collects them from events.jsonl: the analyzer's spotted events (body
type "event", kinds micro/macro; blinks left out) and annotations (type "annotation" or "spot").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from mestudio.analysis.datasets.aus import AUCode, parse_aus
from mestudio.analysis.datasets.errors import ClipNotFoundError
from mestudio.analysis.datasets.samples import LabelBook, Sample, study_emotion


def _first(d: dict, *keys: str):
    return next((d[k] for k in keys if k in d and d[k] is not None), None)


def intervals_from_events(
    events: Iterable[dict],
    types: Sequence[str] = ("event", "spot", "annotation"),
    kinds: Sequence[str] = ("micro", "macro"),
) -> list[dict]:
    """Records of events.jsonl that carry an interval, whose type is in ``types`` and whose
    kind (when they have one) is in ``kinds``."""
    out = []
    for e in events:
        body = e["body"] if isinstance(e.get("body"), dict) else e
        if body.get("type") not in types or body.get("kind", kinds[0] if kinds else None) not in kinds:
            continue
        iv = dict(body)
        if "onset_seq" in body and "offset_seq" in body:
            out.append(iv)
            continue
        on, off = _first(body, "onset_s", "start_s"), _first(body, "offset_s", "end_s")
        if on is None or off is None:
            continue
        iv.update(onset_s=float(on), offset_s=float(off))
        if body.get("type") == "event":
            iv.setdefault("time_base", "host")  # the analyzer stamps frames' host times
        out.append(iv)
    return out


def _aus(v) -> tuple[AUCode, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return parse_aus(v)
    return tuple(AUCode(int(a)) for a in v)


def session_clips(
    session_dir: str | Path, stream_id: str, intervals: Sequence[dict], subject: str | None = None
) -> tuple[LabelBook, list[np.ndarray]]:
    """Cut each interval out of ``stream_id``; returns the samples and their (T, H, W) frames.

    Colour frames are turned to grayscale as the study used. Frame numbers in the samples are
    positions in the recorded stream.
    """
    from mestudio.stream.session_reader import SessionReader

    reader = SessionReader(session_dir)
    stream = reader.stream(stream_id)
    if len(stream) == 0:
        raise ClipNotFoundError(f"{session_dir}: stream {stream_id!r} has no frames")
    host = stream.index["host_time_ns"].astype(np.int64)
    t0 = int(reader.manifest.get("t0_host_ns", int(host[0])))
    seqs = stream.index["seq"].astype(np.int64)
    subject = subject or str(reader.manifest.get("participant", "") or Path(session_dir).name)
    samples, clips = [], []
    key: np.ndarray  # frame numbers or seconds: what the interval is given in
    for k, iv in enumerate(intervals):
        if "onset_seq" in iv:
            key, vals = seqs, (iv["onset_seq"], iv.get("apex_seq"), iv["offset_seq"])
            what = f"frames {iv['onset_seq']}-{iv['offset_seq']}"
        else:
            key = host / 1e9 if iv.get("time_base") == "host" else (host - t0) / 1e9
            vals = (iv["onset_s"], iv.get("apex_s"), iv["offset_s"])
            what = f"{iv['onset_s']:.3f}-{iv['offset_s']:.3f} s"
        lo = int(np.searchsorted(key, vals[0], side="left"))
        hi = min(int(np.searchsorted(key, vals[2], side="right")) - 1, len(stream) - 1)
        if hi <= lo:
            raise ClipNotFoundError(f"{session_dir}: interval {what} holds no frames of {stream_id!r}")
        frames = np.stack([_gray(stream.frame(i), stream.info) for i in range(lo, hi + 1)])
        apex = None if vals[1] is None else int(np.searchsorted(key, vals[1]))
        emos = tuple(e for e in (study_emotion(x) for x in iv.get("emotions", ()) or ()) if e)
        samples.append(
            Sample(
                "session",
                subject,
                f"{stream_id}#{k}",
                lo,
                apex,
                hi,
                _aus(iv.get("aus")),
                emos,
                video=str(session_dir),
                kind=str(iv.get("kind", "micro")),
            )
        )
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
