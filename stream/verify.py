"""Integrity of a session folder, and repair of one whose recorder was cut short.

Repair only trims what a crash can leave torn (a partial index record, index records whose frame
never reached the disk, frame bytes with no index record, a partial last line of events.jsonl);
it never touches a complete frame.  What it trimmed is written to ``repair.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mestudio.stream.errors import SessionError
from mestudio.stream.live import pid_alive
from mestudio.stream.session import (
    INDEX_DTYPE,
    NO_DEVICE_TIME,
    SessionReader,
    StreamReader,
    write_json_atomic,
    write_timestamps_csv,
)

MAX_GAPS_LISTED = 20


@dataclass
class StreamReport:
    stream_id: str
    frames: int
    bytes: int
    first_seq: int | None
    last_seq: int | None
    gaps: int  # missing sequence numbers
    gap_ranges: list[tuple[int, int]]  # (first missing, last missing), the first few
    seq_out_of_order: int
    host_time_backwards: int
    device_time_backwards: int
    bad_sizes: int  # index records whose size is not the frame size of info.json
    duration_s: float
    fps: float
    published: int | None = None  # frames the producer said it sent (its END message), when known
    skipped_while_paused: int = 0  # frames not written while the operator had stopped recording
    device_dropped: int = 0  # frames the device itself lost before publishing (its own count)
    # times its device node died and was started again: restart, node, from_seq, gap_s
    outages: list[dict] = field(default_factory=list)

    @property
    def unrecorded(self) -> int:
        """Frames a producer published that are not in the recording."""
        if self.published is None:
            return 0
        return max(0, self.published - self.frames - self.skipped_while_paused)

    @property
    def ok(self) -> bool:
        return not (
            self.gaps > self.skipped_while_paused
            or self.seq_out_of_order
            or self.host_time_backwards
            or self.device_time_backwards
            or self.bad_sizes
            or self.unrecorded
        )


@dataclass
class SessionReport:
    path: str
    status: str
    streams: list[StreamReport]
    events: int
    repaired: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # found now: the session is not intact
    history: list[str] = field(default_factory=list)  # what went wrong while it was recorded

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.streams) and not self.problems

    def to_json(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        for s, src in zip(d["streams"], self.streams):
            s["ok"], s["unrecorded"] = src.ok, src.unrecorded
        return d


def check_stream(reader: StreamReader) -> StreamReport:
    idx = reader.index
    seq = idx["seq"].astype(np.int64)
    host = idx["host_time_ns"]
    dev = idx["device_time_ns"]
    gaps, ranges, out_of_order = 0, [], 0
    if len(seq) > 1:
        out_of_order = int(np.count_nonzero(np.diff(seq) <= 0))
        uniq = np.unique(seq)  # a late frame fills its gap: only what never came is missing
        d = np.diff(uniq)
        gaps = int(uniq[-1] - uniq[0] + 1 - len(uniq))
        for i in np.flatnonzero(d > 1)[:MAX_GAPS_LISTED]:
            ranges.append((int(uniq[i] + 1), int(uniq[i + 1] - 1)))
    has_dev = dev != NO_DEVICE_TIME
    dev_back = int(np.count_nonzero(np.diff(dev[has_dev]) < 0)) if has_dev.sum() > 1 else 0
    info = reader.info
    frame_bytes = np.dtype(info["dtype"]).itemsize * int(np.prod(info["shape"]))
    duration = (int(host[-1]) - int(host[0])) / 1e9 if len(host) > 1 else 0.0
    return StreamReport(
        stream_id=reader.stream_id,
        frames=len(idx),
        bytes=int(idx["nbytes"].sum()),
        first_seq=int(seq[0]) if len(seq) else None,
        last_seq=int(seq[-1]) if len(seq) else None,
        gaps=gaps,
        gap_ranges=ranges,
        seq_out_of_order=out_of_order,
        host_time_backwards=int(np.count_nonzero(np.diff(host) < 0)) if len(host) > 1 else 0,
        device_time_backwards=dev_back,
        bad_sizes=int(np.count_nonzero(idx["nbytes"] != frame_bytes)),
        duration_s=round(duration, 3),
        fps=round((len(idx) - 1) / duration, 3) if duration > 0 else 0.0,
    )


def repair_stream(folder: Path) -> dict:
    """Trim one stream's torn tail; returns what was trimmed (empty when nothing was)."""
    data_p, index_p = folder / "frames.bin", folder / "index.bin"
    trimmed: dict = {}
    data_size = data_p.stat().st_size if data_p.exists() else 0
    raw_size = index_p.stat().st_size if index_p.exists() else 0
    whole = raw_size // INDEX_DTYPE.itemsize
    if raw_size % INDEX_DTYPE.itemsize:
        trimmed["partial_index_bytes"] = raw_size % INDEX_DTYPE.itemsize
    idx = np.fromfile(index_p, INDEX_DTYPE, count=whole) if whole else np.zeros(0, INDEX_DTYPE)
    ends = idx["offset"] + idx["nbytes"]
    # records are appended in order: keep the longest prefix whose frames are fully on disk
    bad = np.flatnonzero(ends > data_size)
    keep = int(bad[0]) if len(bad) else len(idx)
    if keep < len(idx):
        trimmed["index_records_without_data"] = len(idx) - keep
    if keep * INDEX_DTYPE.itemsize != raw_size:
        with open(index_p, "r+b") as f:
            f.truncate(keep * INDEX_DTYPE.itemsize)
    end = int(ends[keep - 1]) if keep else 0
    if data_size > end:
        trimmed["frame_bytes_without_index"] = data_size - end
        with open(data_p, "r+b") as f:
            f.truncate(end)
    return trimmed


def repair_events(path: Path) -> int:
    """Cut a partial last line; returns the bytes removed."""
    if not path.exists():
        return 0
    raw = path.read_bytes()
    if not raw or raw.endswith(b"\n"):
        return 0
    cut = raw.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(cut)
    return len(raw) - cut


def needs_repair(reader: SessionReader) -> bool:
    return reader.manifest.get("status") in ("recording", "failed") or not (reader.root / "recorder.json").exists()


def repair(root: Path) -> dict:
    """Make a cut-short session readable again; refuses while it is still being recorded."""
    reader = SessionReader(root)
    pid = reader.manifest.get("supervisor_pid")
    if reader.manifest.get("status") == "recording" and pid and pid_alive(int(pid)) and pid != os.getpid():
        raise SessionError(f"{root}: still being recorded (supervisor pid {pid}); verify it after it stops")
    done: dict = {}
    for sid in reader.stream_ids():
        t = repair_stream(root / "streams" / sid)
        if t:
            done[sid] = t
    ev = repair_events(root / "events.jsonl")
    if ev:
        done["events.jsonl"] = {"partial_line_bytes": ev}
    t0 = int(reader.manifest.get("t0_host_ns", 0))
    for sid in reader.stream_ids():
        write_timestamps_csv(reader.stream(sid), t0)
    if done or reader.manifest.get("status") == "recording":
        write_json_atomic(root / "repair.json", {"trimmed": done, "status_before": reader.manifest.get("status")})
        manifest = dict(reader.manifest)
        if manifest.get("status") == "recording":
            manifest["status"] = "repaired"
            manifest.setdefault("problems", []).append("recording was cut short (no clean stop); repaired by verify")
        manifest["repaired"] = done
        write_json_atomic(root / "manifest.json", manifest)
    return done


def verify(root: str | Path, do_repair: bool = True) -> SessionReport:
    root = Path(root)
    reader = SessionReader(root)
    repaired = repair(root) if do_repair and needs_repair(reader) else {}
    reader = SessionReader(root)
    if do_repair:  # derived data a crash (or an older recorder) may not have written
        t0 = int(reader.manifest.get("t0_host_ns", 0))
        for sid in reader.stream_ids():
            if not (root / "streams" / sid / "timestamps.csv").exists():
                write_timestamps_csv(reader.stream(sid), t0)
    events = reader.events()
    streams = [check_stream(reader.stream(sid)) for sid in reader.stream_ids()]
    ends = {e.get("stream_id"): e.get("body") or {} for e in events if str(e.get("topic", "")).startswith("end/")}
    paused = reader.recorder_report().get("skipped_while_paused", {})
    for s in streams:
        s.skipped_while_paused = int(paused.get(s.stream_id, 0))
        end = ends.get(s.stream_id)
        if end and "frames" in end:
            s.published = int(end["frames"])
            s.device_dropped = int(end.get("device_dropped", 0))
    problems = outage_problems(reader, streams, events)
    dropped = reader.recorder_report().get("bad_messages", 0)
    if dropped:
        problems.append(f"recorder received {dropped} malformed messages")
    if not streams:
        problems.append("no streams recorded")
    return SessionReport(
        str(root),
        reader.manifest.get("status", "?"),
        streams,
        len(events),
        repaired,
        problems,
        list(reader.manifest.get("problems", [])),
    )


def outage_problems(reader: SessionReader, streams: list[StreamReport], events: list[dict]) -> list[str]:
    """Each restart of a device node on the timeline, measured in its streams' own frames."""
    by_id = {s.stream_id: s for s in streams}
    problems = []
    for ev in events:
        body = ev.get("body")
        if ev.get("topic") != "session/node-restarted" or not isinstance(body, dict):
            continue
        seq_base = body.get("seq_base")
        for sid, base in (seq_base if isinstance(seq_base, dict) else {}).items():
            s = by_id.get(sid)
            if s is None or not isinstance(base, int):
                continue
            idx = reader.stream(sid).index
            seq, host = idx["seq"].astype(np.int64), idx["host_time_ns"].astype(np.int64)
            before, after = host[seq < base], host[seq >= base]
            gap = round((int(after.min()) - int(before.max())) / 1e9, 3) if len(before) and len(after) else None
            s.outages.append({"restart": body.get("restart"), "node": body.get("node"), "from_seq": base, "gap_s": gap})
            where = f"no frames around seq {base}" if gap is None else f"{gap:.2f} s without frames before seq {base}"
            problems.append(
                f"{sid}: device node {body.get('node')} died ({body.get('exit', '?')}) and was restarted: {where}"
            )
    return problems


def format_report(rep: SessionReport) -> str:
    lines = [f"session {rep.path}  status: {rep.status}  events: {rep.events}"]
    lines.append(
        f"  {'stream':<20} {'frames':>8} {'published':>9} {'gaps':>6} {'order':>6} {'dur s':>8} {'fps':>8} {'MB':>9}"
    )
    for s in rep.streams:
        order = "ok" if not (s.seq_out_of_order or s.host_time_backwards or s.device_time_backwards) else "BAD"
        pub = "?" if s.published is None else str(s.published)
        lines.append(
            f"  {s.stream_id:<20} {s.frames:>8} {pub:>9} {s.gaps:>6} {order:>6} {s.duration_s:>8.2f} "
            f"{s.fps:>8.2f} {s.bytes / 1e6:>9.1f}"
        )
        if s.gap_ranges:
            lines.append("    missing seq: " + ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in s.gap_ranges))
    if rep.repaired:
        lines.append("  repaired: " + json.dumps(rep.repaired))
    for p in rep.history:
        lines.append(f"  while recording: {p}")
    for p in rep.problems:
        lines.append(f"  problem: {p}")
    lines.append("  verdict: " + ("OK" if rep.ok else "PROBLEMS"))
    return "\n".join(lines)
