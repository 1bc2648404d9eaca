"""A session as one XDF 1.0 file: what LabRecorder would have written had it recorded beside us.

Timeline: XDF timestamps are seconds of a stream's own clock; clock offsets bring them onto the
recording host's clock.  mestudio's host clock is CLOCK_MONOTONIC, which is LSL's local_clock()
on this host, so the file lines up with a LabRecorder recording of the same session's EEG.

| session                         | XDF stream (type)                | timestamps                           |
|---------------------------------|----------------------------------|--------------------------------------|
| lsl streams (signal, markers)   | its LSL name/type/format         | sender's clock; offsets = time_correction |
| audio                           | `<id>` (Audio), int16            | every sample: block start + k / rate |
| video / depth                   | `<id>-frames` (VideoFrames)      | each frame; channels frame in file, seq |
| markers, operator, session, sync| `mestudio-markers` (Markers)     | the marker's host time; JSON strings |
| analyzer events                 | `mestudio-analyzer-events` (Markers) | onset time; JSON strings         |
| analyzer traces (per frame)     | `mestudio-analyzer-trace` (MEScore) | each scored frame's host time     |

Host times are the sync report's corrected ones where `mestudio sync` has run (sync/timestamps/),
else the recorded ones.  Video frames are only indexed: the pixels are in the exported .mkv whose
name the stream's <desc><video_file> gives (frame k of the stream is frame k of the file).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from mestudio.interop.xdf import XDFStream, XDFWriter
from mestudio.stream.session import NO_DEVICE_TIME
from mestudio.stream.session_reader import SessionReader, StreamReader

VIDEO_FORMATS = ("mono8", "rgb8", "bgr8", "depth16")
MARKER_TOPICS = ("markers/", "command/", "session/", "sync/chirp", "sync/request-chirp", "recorder/")
OFFSET_EVERY_S = 5.0  # one clock-offset measurement per this much of an LSL stream
TRACE_SKIP = {"seq", "t", "type", "stream_id", "threshold", "quality", "faces"}


def host_times_ns(reader: SessionReader, sid: str) -> np.ndarray:
    """Each frame's best host time: the sync report's corrected one if present, else the recorded one."""
    idx = reader.stream(sid).index
    synced = reader.root / "sync" / "timestamps" / f"{sid}.csv"
    if synced.is_file():
        with open(synced, newline="") as f:
            corrected = np.array([int(r["corrected_ns"]) for r in csv.DictReader(f)], np.int64)
        if len(corrected) == len(idx):
            return corrected
    return idx["host_time_ns"].astype(np.int64)


def is_lsl(info: dict) -> bool:
    return info.get("device_kind") == "lsl" or str(info.get("pixel_format", "")).startswith("lsl-")


def export_xdf(
    reader: SessionReader, path: str | Path, video_files: dict[str, str] | None = None, only: list[str] | None = None
) -> dict:
    """Write the session to ``path`` (.xdf); returns {xdf stream name: samples written}.

    ``only``: the session streams to include (default all); markers and analyzer results always are.
    """
    video_files = video_files or {}
    written: dict[str, int] = {}
    events = reader.events()
    with XDFWriter(path) as x:
        for sid in reader.stream_ids():
            if only and sid not in only:
                continue
            st = reader.stream(sid)
            if len(st) == 0:
                continue
            info = st.info
            if is_lsl(info):
                written[sid] = _lsl_stream(x, st, reader)
            elif info.get("media") == "audio" or info.get("pixel_format") == "s16le":
                written[sid] = _audio_stream(x, st, reader)
            elif info.get("pixel_format") in VIDEO_FORMATS:
                name = f"{sid}-frames"
                written[name] = _video_index(x, st, reader, video_files.get(sid, f"{sid}.mkv"))
        written["mestudio-markers"] = _markers(x, events)
        written["mestudio-analyzer-events"] = _analyzer_events(x, events)
        written["mestudio-analyzer-trace"] = _analyzer_trace(x, events)
    return written


def _lsl_stream(x: XDFWriter, st: StreamReader, reader: SessionReader) -> int:
    info, idx = st.info, st.index
    s = info.get("settings", {})
    fmt = s.get("lsl_channel_format") or str(info["pixel_format"]).removeprefix("lsl-")
    n = int(info["shape"][0]) if info["shape"] else 1
    sid = x.add_stream(
        XDFStream(
            s.get("lsl_name") or info["stream_id"],
            s.get("lsl_type", ""),
            n,
            float(s.get("nominal_srate", info.get("rate_hz") or 0.0)),
            fmt,
            source_id=s.get("lsl_source_id", ""),
            desc={"mestudio_stream": info["stream_id"], "hostname": s.get("lsl_hostname", "")},
            channel_labels=list(s.get("channel_labels") or []),
        )
    )
    dev = idx["device_time_ns"].astype(np.int64)
    host = host_times_ns(reader, st.stream_id)
    if np.any(dev == NO_DEVICE_TIME):  # should not happen for LSL; fall back to the host clock
        dev = host
    values: list[list[str]] | np.ndarray
    if fmt == "string":
        values = [[bytes(v).decode("utf-8", "replace") for v in np.atleast_1d(frame)] for _, frame in st.frames()]
    else:
        values = sample_matrix(st, n)
    x.samples(sid, dev / 1e9, values)
    # clock offsets: host - sender at a sample every OFFSET_EVERY_S (and at the last one)
    off = (host - dev) / 1e9
    picks, last_t = [], None
    for i, t in enumerate(host / 1e9):
        if last_t is None or t - last_t >= OFFSET_EVERY_S:
            picks.append(i)
            last_t = t
    if picks[-1] != len(host) - 1:
        picks.append(len(host) - 1)
    for i in picks:
        x.clock_offset(sid, host[i] / 1e9, float(off[i]))
    return len(idx)


def sample_matrix(st: StreamReader, n: int) -> np.ndarray:
    """All frames of a numeric stream as one (frames, n) array: a view of frames.bin when the frames lie
    back to back in it (as the recorder writes them), so an hour of EEG is not copied into memory."""
    idx, dt = st.index, np.dtype(st.info["dtype"])
    size = dt.itemsize * n
    start = int(idx["offset"][0])
    if np.array_equal(idx["offset"], start + np.arange(len(idx), dtype=np.uint64) * size):
        mm = np.memmap(st.folder / "frames.bin", dtype=np.uint8, mode="r", offset=start, shape=(len(idx) * size,))
        return mm.view(dt).reshape(len(idx), n)
    return np.stack([frame.reshape(n) for _, frame in st.frames()])


def _audio_stream(x: XDFWriter, st: StreamReader, reader: SessionReader) -> int:
    info = st.info
    shape = info["shape"]
    block, channels = int(shape[0]), int(shape[1]) if len(shape) > 1 else 1
    rate = int(info.get("settings", {}).get("sample_rate") or round(float(info["rate_hz"]) * block))
    sid = x.add_stream(
        XDFStream(
            info["stream_id"], "Audio", channels, float(rate), "int16", desc={"mestudio_stream": info["stream_id"]}
        )
    )
    starts = host_times_ns(reader, st.stream_id)
    synced = (reader.root / "sync" / "timestamps" / f"{st.stream_id}.csv").is_file()
    if not synced:  # a recorded block's host time is when its last sample arrived
        starts = starts - int(round(1e9 * block / rate))
    within = np.arange(block) / rate
    total = 0
    for (_, data), t in zip(st.frames(), starts):
        x.samples(sid, t / 1e9 + within, np.asarray(data, "<i2").reshape(block, channels))
        total += block
    x.host_clock(sid)
    return total


def _video_index(x: XDFWriter, st: StreamReader, reader: SessionReader, video_file: str) -> int:
    info, idx = st.info, st.index
    sid = x.add_stream(
        XDFStream(
            f"{info['stream_id']}-frames",
            "VideoFrames",
            2,
            float(info.get("rate_hz") or 0.0),
            "int64",
            desc={
                "video_file": video_file,
                "mestudio_stream": info["stream_id"],
                "pixel_format": info.get("pixel_format", ""),
                "width": info["shape"][1],
                "height": info["shape"][0],
            },
            channel_labels=["frame_in_file", "seq"],
        )
    )
    values = np.stack([np.arange(len(idx), dtype=np.int64), idx["seq"].astype(np.int64)], axis=1)
    x.samples(sid, host_times_ns(reader, st.stream_id) / 1e9, values)
    x.host_clock(sid)
    return len(idx)


def _strings(x: XDFWriter, name: str, items: list[tuple[float, dict]]) -> int:
    sid = x.add_stream(XDFStream(name, "Markers", 1, 0.0, "string", source_id=name))
    items.sort(key=lambda it: it[0])
    x.samples(sid, [t for t, _ in items], [[json.dumps(b, separators=(",", ":"), default=str)] for _, b in items])
    x.host_clock(sid)
    return len(items)


def _markers(x: XDFWriter, events: list[dict]) -> int:
    items = [
        (e["host_time_ns"] / 1e9, {"topic": e["topic"], **(b if isinstance(b := e.get("body"), dict) else {})})
        for e in events
        if str(e.get("topic", "")).startswith(MARKER_TOPICS) and isinstance(e.get("host_time_ns"), int)
    ]
    return _strings(x, "mestudio-markers", items)


def _analyzer_bodies(events: list[dict], kind: str) -> list[dict]:
    return [
        e["body"]
        for e in events
        if str(e.get("topic", "")).startswith("results/")
        and isinstance(e.get("body"), dict)
        and e["body"].get("type") == kind
    ]


def _analyzer_events(x: XDFWriter, events: list[dict]) -> int:
    items = [(float(b["onset_s"]), b) for b in _analyzer_bodies(events, "event") if "onset_s" in b]
    return _strings(x, "mestudio-analyzer-events", items)


def trace_channels(traces: list[dict]) -> list[str]:
    """Per-frame numeric lists of the analyzer's traces (score, and AU intensities where present)."""
    names: list[str] = []
    for b in traces:
        n = len(b.get("seq", []))
        for k, v in b.items():
            if k in TRACE_SKIP or k in names:
                continue
            if isinstance(v, list) and len(v) == n and all(isinstance(e, (int, float)) for e in v):
                names.append(k)
            elif isinstance(v, dict):
                for au, series in v.items():
                    key = f"{k}.{au}"
                    if key not in names and isinstance(series, list) and len(series) == n:
                        names.append(key)
    return names


def _analyzer_trace(x: XDFWriter, events: list[dict]) -> int:
    traces = _analyzer_bodies(events, "trace")
    chans = trace_channels(traces) or ["score"]
    sid = x.add_stream(
        XDFStream("mestudio-analyzer-trace", "MEScore", len(chans) + 1, 0.0, "double64", channel_labels=["seq", *chans])
    )
    ts, rows = [], []
    for b in traces:
        for i, (q, t) in enumerate(zip(b.get("seq", []), b.get("t", []))):
            row = [float(q)]
            for c in chans:
                head, _, au = c.partition(".")
                series = b.get(head, {}).get(au) if au else b.get(head)
                row.append(float(series[i]) if isinstance(series, list) and i < len(series) else float("nan"))
            ts.append(float(t))
            rows.append(row)
    if rows:
        x.samples(sid, ts, np.array(rows, np.float64))
        x.host_clock(sid)
    return len(rows)
