"""Integrity of a session folder: the session's report, and the verdict on it.

Verify tells the truth: ``ok`` only when every stream is complete.  Problems name the stream:
short or missing data files, checksum mismatches (by sequence number), a stream that ended early
against the session (a dead device), less than ``MIN_RATE_FRACTION`` of the configured rate, a
node that died, a missing recorder.json, unreadable files.  The checks live in
stream/stream_checks.py (one stream) and stream/session_checks.py (the session); a session cut
short is repaired first (stream/repair.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mestudio.stream.errors import SessionError
from mestudio.stream.repair import needs_repair, repair, write_timestamps
from mestudio.stream.session_checks import (
    node_problems,
    outage_problems,
    paused_at_end,
    producer_counts,
    session_end_ns,
)
from mestudio.stream.session_reader import SessionReader, StreamReader
from mestudio.stream.stream_checks import StreamReport, check_rate_and_end, check_stream


@dataclass
class SessionReport:
    path: str
    status: str
    streams: list[StreamReport]
    events: int
    repaired: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # found now: the session is not intact
    history: list[str] = field(default_factory=list)  # what went wrong while it was recorded
    rejected: dict = field(default_factory=dict)  # malformed messages per receiver and kind

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.streams) and not self.problems

    def to_json(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        for s, src in zip(d["streams"], self.streams):
            s["ok"], s["unrecorded"] = src.ok, src.unrecorded
        return d


def verify(root: str | Path, do_repair: bool = True) -> SessionReport:
    root = Path(root)
    reader = SessionReader(root)
    repaired = repair(root) if do_repair and needs_repair(reader) else {}
    reader = SessionReader(root)
    if do_repair:  # derived data a crash (or an older recorder) may not have written
        write_timestamps(reader, only_missing=True)
    events = reader.events()
    problems: list[str] = []
    history = reader.manifest.get("problems")
    history = [str(p) for p in history] if isinstance(history, list) else []
    try:
        rec_report = reader.recorder_report()
        if not (root / "recorder.json").exists():
            problems.append("no recorder.json: the recorder did not finish, its counts are unknown")
    except SessionError as e:
        rec_report = {}
        problems.append(str(e))
    readers: list[StreamReader] = []
    for sid in reader.stream_ids():
        try:
            readers.append(reader.stream(sid))
        except SessionError as e:
            problems.append(f"stream {sid}: {e}")
    streams = [check_stream(r) for r in readers]
    ends = producer_counts(events, reader.manifest)
    paused = rec_report.get("skipped_while_paused")
    paused = paused if isinstance(paused, dict) else {}
    shed = rec_report.get("shed")
    shed = shed if isinstance(shed, dict) else {}
    session_end = session_end_ns(events, readers)
    paused_last = paused_at_end(events)
    for s, r in zip(streams, readers):
        n = paused.get(s.stream_id, 0)
        s.skipped_while_paused = n if isinstance(n, int) else 0
        end = ends.get(s.stream_id)
        if end and isinstance(end.get("frames"), int):
            s.published = end["frames"]
            dd = end.get("device_dropped", 0)
            s.device_dropped = dd if isinstance(dd, int) else 0
        check_rate_and_end(s, r, session_end, paused_last)
        if s.unrecorded:
            s.problems.append(f"stream {s.stream_id}: {s.unrecorded} published frames are not in the recording")
        n_shed = shed.get(s.stream_id, 0)
        if isinstance(n_shed, int) and n_shed > 0:
            s.problems.append(
                f"stream {s.stream_id}: {n_shed} frames shed by the recorder (its queue in memory passed "
                "recorder.shed_above_mb: the disk or the CPU was too slow for the rig)"
            )
    problems += outage_problems(reader, streams, events)
    status = str(reader.manifest.get("status", "?"))
    if status != "complete":
        why = f": {history[0]}" if history else ""
        problems.append(f"the session did not complete (status {status!r}){why}")
    problems += node_problems(reader.manifest)
    if reader.bad_event_lines:
        problems.append(f"events.jsonl: {reader.bad_event_lines} lines are not JSON objects (skipped)")
    rejected = rec_report.get("rejected") or {}
    if isinstance(rejected, dict) and rejected:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items()))
        total = sum(v for v in rejected.values() if isinstance(v, int))
        history.append(f"recorder rejected {total} malformed messages ({kinds})")
    if not streams and not readers:
        problems.append("no streams recorded")
    counted = reader.manifest.get("rejected")
    counted = dict(counted) if isinstance(counted, dict) else {}
    if isinstance(rejected, dict) and rejected:
        counted["recorder"] = rejected
    return SessionReport(str(root), status, streams, len(events), repaired, problems, history, counted)


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
    for s in rep.streams:
        lines += [f"  note: {n}" for n in s.notes]
        for p in s.problems:
            lines.append(f"  problem: {p}")
    for p in rep.problems:
        lines.append(f"  problem: {p}")
    lines.append("  verdict: " + ("OK" if rep.ok else "PROBLEMS"))
    return "\n".join(lines)
