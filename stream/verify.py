"""Integrity of a session folder, and repair of one whose recorder was cut short.

Repair only trims what a crash can leave torn (a partial index record, index records at the end
whose frame never reached the disk, frame bytes after the last record, a partial last line of
events.jsonl).  It never deletes a frame whose bytes are intact: an index record that contradicts
the append-only layout (garbled) is moved to ``index.quarantine.bin`` and reported, the frames
around it stay.  What it did is written to ``repair.json``.

Verify tells the truth: ``ok`` only when every stream is complete.  Problems name the stream:
short or missing data files, checksum mismatches (by sequence number), a stream that ended early
against the session (a dead device), less than ``MIN_RATE_FRACTION`` of the configured rate, a
node that died, a missing recorder.json, unreadable files.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mestudio.stream import messages
from mestudio.stream.errors import SessionError
from mestudio.stream.live import pid_alive
from mestudio.stream.session import (
    NO_DEVICE_TIME,
    RESERVE,
    SessionReader,
    StreamReader,
    index_dtype,
    write_json_atomic,
    write_timestamps_csv,
)

MAX_GAPS_LISTED = 20
MAX_SEQS_LISTED = 20
MIN_RATE_FRACTION = 0.95  # a stream below this share of its configured rate is a problem
EARLY_END_S = 1.0  # a stream whose last frame is this long before the session's end ended early
QUARANTINE = "index.quarantine.bin"


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
    rate_hz: float | None = None  # the configured rate (info.json), when known
    unreadable: int = 0  # index records whose frame is not (all) in frames.bin
    checksum_mismatches: int = 0
    checksum_mismatch_seqs: list[int] = field(default_factory=list)  # the first few
    checksums: bool = False  # whether the index carries checksums (index_version >= 2)
    ended_early_s: float = 0.0  # how long before the session's end its last frame came
    problems: list[str] = field(default_factory=list)  # each names the stream
    notes: list[str] = field(default_factory=list)  # worth knowing, not a fault of the recording
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
            or self.problems
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


def _seq_list(seqs: list[int]) -> str:
    return ", ".join(map(str, seqs[:MAX_SEQS_LISTED])) + (" ..." if len(seqs) > MAX_SEQS_LISTED else "")


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
    duration = (int(host[-1]) - int(host[0])) / 1e9 if len(host) > 1 else 0.0
    rate = reader.info.get("rate_hz")
    rep = StreamReport(
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
        bad_sizes=0,  # the reader hands out only records of the stream's frame size (the rest: unreadable)
        duration_s=round(duration, 3),
        fps=round((len(idx) - 1) / duration, 3) if duration > 0 else 0.0,
        rate_hz=float(rate) if isinstance(rate, int | float) and rate > 0 else None,
        unreadable=len(reader.unreadable),
        checksums=reader.has_checksums,
    )
    sid = reader.stream_id
    if reader.unreadable.size:
        rep.problems.append(
            f"stream {sid}: {reader.unreadable.size} of {reader.records} index records point past the end of "
            f"frames.bin ({reader.data_bytes} bytes) or have the wrong size: frames.bin is short or missing"
        )
    if reader.partial_index_bytes:
        rep.problems.append(f"stream {sid}: index.bin ends in a partial record ({reader.partial_index_bytes} bytes)")
    bad = reader.checksum_mismatches()
    if bad:
        rep.checksum_mismatches, rep.checksum_mismatch_seqs = len(bad), bad[:MAX_SEQS_LISTED]
        rep.problems.append(f"stream {sid}: {len(bad)} frames fail their CRC32C checksum (seq {_seq_list(bad)})")
    if len(idx) == 0:
        rep.problems.append(f"stream {sid}: no readable frames")
    return rep


# streams another program sends (LSL inlets): when they end is the sender's business, not a dead device
EXTERNAL_MEDIA = ("signal", "markers")


def _check_rate_and_end(s: StreamReport, reader: StreamReader, session_end_ns: int | None, paused_at_end: bool) -> None:
    """A dead device (ends early) and a slow one (under MIN_RATE_FRACTION of its rate)."""
    if not len(reader.index):
        return
    last = int(reader.index["host_time_ns"][-1])
    tol = EARLY_END_S + (3.0 / s.rate_hz if s.rate_hz else 0.0)
    if session_end_ns is not None and not paused_at_end and (session_end_ns - last) / 1e9 > tol:
        s.ended_early_s = round((session_end_ns - last) / 1e9, 3)
        if reader.info.get("media") in EXTERNAL_MEDIA:  # another program's stream (LSL) may end first
            s.notes.append(f"stream {s.stream_id}: its sender stopped {s.ended_early_s:.1f} s before the session")
        else:
            s.problems.append(
                f"stream {s.stream_id}: ended {s.ended_early_s:.1f} s before the session did "
                "(its device stopped delivering)"
            )
    if s.rate_hz and s.duration_s * s.rate_hz >= 20:
        delivered = (s.frames + s.skipped_while_paused - 1) / s.duration_s
        if delivered < MIN_RATE_FRACTION * s.rate_hz:
            s.problems.append(
                f"stream {s.stream_id}: delivered {delivered:.1f} frames/s, under {MIN_RATE_FRACTION:.0%} of its "
                f"configured {s.rate_hz:g}"
            )


def _frame_bytes(folder: Path) -> tuple[np.dtype, int]:
    """The index layout and every frame's size (0: encoded, each packet its own size)."""
    info = json.loads((folder / "info.json").read_bytes().decode("utf-8"))
    fb = 0 if info.get("codec") else np.dtype(info["dtype"]).itemsize * math.prod(info["shape"])
    return index_dtype(info), fb


def repair_stream(folder: Path) -> dict:
    """Trim one stream's torn tail and quarantine garbled records; returns what it did."""
    data_p, index_p = folder / "frames.bin", folder / "index.bin"
    try:
        rec_dtype, fb = _frame_bytes(folder)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SessionError(f"{folder / 'info.json'}: cannot repair without a readable stream info ({e})") from None
    trimmed: dict = {}
    data_size = data_p.stat().st_size if data_p.exists() else 0
    raw = index_p.read_bytes() if index_p.exists() else b""
    whole = len(raw) // rec_dtype.itemsize
    if len(raw) % rec_dtype.itemsize:
        trimmed["partial_index_bytes"] = len(raw) % rec_dtype.itemsize
    idx = np.frombuffer(raw[: whole * rec_dtype.itemsize], rec_dtype)
    offsets = idx["offset"].astype(np.uint64)
    ends = offsets + idx["nbytes"].astype(np.uint64)
    # the torn tail: the last records whose frame never (fully) reached the disk
    keep = whole
    while keep and int(ends[keep - 1]) > data_size:
        keep -= 1
    if keep < whole:
        trimmed["index_records_without_data"] = whole - keep
    # an intact record has the frame size, lies inside frames.bin, and its offset is one of a
    # strictly increasing run (one writer appends); the rest contradict the layout: garbled
    fits = ((idx["nbytes"][:keep] == fb) if fb else (idx["nbytes"][:keep] > 0)) & (ends[:keep] <= data_size)
    if fb:
        fits &= (offsets[:keep] % np.uint64(fb)) == (np.uint64(int(np.median(offsets[:keep] % fb))) if keep else 0)
    consistent = _increasing_run(offsets[:keep], fits)
    garbled = np.flatnonzero(~consistent)
    if garbled.size:
        with open(folder / QUARANTINE, "ab") as q:
            q.write(idx[garbled].tobytes())
        trimmed["quarantined_records"] = [int(i) for i in garbled[:MAX_SEQS_LISTED]]
        trimmed["quarantined"] = int(garbled.size)
    kept = idx[:keep][consistent]
    if kept.nbytes != len(raw):
        tmp = index_p.with_name(index_p.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(kept.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, index_p)
    # frame bytes after the last record are torn, except those of quarantined records after it
    last = int(np.flatnonzero(consistent)[-1]) if consistent.any() else -1
    end = (int(ends[last]) if last >= 0 else 0) + fb * (keep - 1 - last)
    if data_size > end:
        trimmed["frame_bytes_without_index"] = data_size - end
        with open(data_p, "r+b") as f:
            f.truncate(end)
    return trimmed


def _increasing_run(offsets: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Mask of the longest strictly increasing subsequence of ``offsets`` among ``candidates``."""
    n = len(offsets)
    keep = np.zeros(n, bool)
    cand = np.flatnonzero(candidates)
    if not len(cand):
        return keep
    if np.all(np.diff(offsets[cand].astype(np.float64)) > 0):  # the common case: nothing garbled
        keep[cand] = True
        return keep
    tails: list[int] = []  # patience sorting: tails[k] = smallest last offset of a run of length k+1
    tail_at: list[int] = []
    prev = np.full(n, -1, np.int64)
    for i in cand.tolist():
        o = int(offsets[i])
        k = bisect.bisect_left(tails, o)
        if k == len(tails):
            tails.append(o)
            tail_at.append(i)
        else:
            tails[k], tail_at[k] = o, i
        prev[i] = tail_at[k - 1] if k else -1
    i = tail_at[-1]
    while i >= 0:
        keep[i] = True
        i = int(prev[i])
    return keep


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
    if (
        reader.manifest.get("status") == "recording"
        and isinstance(pid, int)
        and pid > 0
        and pid_alive(pid)
        and pid != os.getpid()
    ):
        raise SessionError(f"{root}: still being recorded (supervisor pid {pid}); verify it after it stops")
    done: dict = {}
    (root / RESERVE).unlink(missing_ok=True)  # a killed recorder's reserve is no data
    for sid in reader.stream_ids():
        try:
            t = repair_stream(root / "streams" / sid)
        except SessionError as e:
            done[sid] = {"error": str(e)}
            continue
        except OSError as e:  # e.g. the disk is still full
            done[sid] = {"error": f"could not repair: {e.strerror or e}"}
            continue
        if t:
            done[sid] = t
    ev = repair_events(root / "events.jsonl")
    if ev:
        done["events.jsonl"] = {"partial_line_bytes": ev}
    _write_timestamps(reader, only_missing=False)
    if done or reader.manifest.get("status") == "recording":
        try:
            _record_repair(root, reader.manifest, done)
        except OSError as e:
            raise SessionError(f"{root}: could not write the repair's record ({e.strerror or e})") from None
    return done


def _record_repair(root: Path, manifest: dict, done: dict) -> None:
    """repair.json, and the manifest marked repaired (a session cut short says so)."""
    write_json_atomic(root / "repair.json", {"trimmed": done, "status_before": manifest.get("status")})
    manifest = dict(manifest)
    if manifest.get("status") == "recording":
        manifest["status"] = "repaired"
        listed = manifest.get("problems")
        problems = listed if isinstance(listed, list) else []
        manifest["problems"] = [*problems, "recording was cut short (no clean stop); repaired by verify"]
    manifest["repaired"] = done
    write_json_atomic(root / "manifest.json", manifest)


def _write_timestamps(reader: SessionReader, only_missing: bool) -> None:
    t0 = reader.manifest.get("t0_host_ns", 0)
    t0 = int(t0) if isinstance(t0, int) else 0
    for sid in reader.stream_ids():
        if only_missing and (reader.root / "streams" / sid / "timestamps.csv").exists():
            continue
        try:
            write_timestamps_csv(reader.stream(sid), t0)
        except SessionError:
            pass  # verify reports the unreadable stream


def _session_end_ns(events: list[dict], streams: list[StreamReader]) -> int | None:
    """When the session ended: the supervisor's session/stop, else the last frame of any stream."""
    stop_times = [e.get("host_time_ns") for e in events if e.get("topic") == messages.SESSION_STOP]
    stops = [t for t in stop_times if isinstance(t, int)]
    if stops:
        return max(stops)
    lasts = [int(r.index["host_time_ns"][-1]) for r in streams if len(r.index)]
    return max(lasts) if lasts else None


def _paused_at_end(events: list[dict]) -> bool:
    last = None
    for e in events:
        if e.get("topic") in (messages.RECORDER_PAUSED, messages.RECORDER_RESUMED):
            last = e["topic"]
    return last == messages.RECORDER_PAUSED


# how the supervisor's manifest describes a node that ended when asked: a local process with code 0,
# or a remote node (on another PC) that stopped on the session's broadcast
CLEAN_EXITS = ("exited with code 0", "stopped")


def _node_problems(manifest: dict) -> list[str]:
    nodes = manifest.get("nodes")
    out = []
    for name, n in nodes.items() if isinstance(nodes, dict) else []:
        exit_ = n.get("exit") if isinstance(n, dict) else None
        if isinstance(exit_, str) and exit_ not in CLEAN_EXITS:
            out.append(f"node {name} ({n.get('role', '?')}) {exit_}")
    return out


def verify(root: str | Path, do_repair: bool = True) -> SessionReport:
    root = Path(root)
    reader = SessionReader(root)
    repaired = repair(root) if do_repair and needs_repair(reader) else {}
    reader = SessionReader(root)
    if do_repair:  # derived data a crash (or an older recorder) may not have written
        _write_timestamps(reader, only_missing=True)
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
    ends = {
        e.get("stream_id"): e.get("body")
        for e in events
        if str(e.get("topic", "")).startswith(messages.END) and isinstance(e.get("body"), dict)
    }
    # a producer whose END never reached the recorder (it died) still told the supervisor its counts
    nodes = reader.manifest.get("nodes") or {}
    for n in nodes.values() if isinstance(nodes, dict) else []:
        st = n.get("status") if isinstance(n, dict) and n.get("role") != "recorder" else None
        st = st if isinstance(st, dict) else {}
        per = st.get("streams")
        for sid, counts in per.items() if isinstance(per, dict) else []:
            if sid not in ends and isinstance(counts, dict) and isinstance(counts.get("frames"), int):
                ends[sid] = {"frames": counts["frames"], "device_dropped": st.get("device_dropped", 0)}
    paused = rec_report.get("skipped_while_paused")
    paused = paused if isinstance(paused, dict) else {}
    session_end = _session_end_ns(events, readers)
    paused_at_end = _paused_at_end(events)
    for s, r in zip(streams, readers):
        n = paused.get(s.stream_id, 0)
        s.skipped_while_paused = n if isinstance(n, int) else 0
        end = ends.get(s.stream_id)
        if end and isinstance(end.get("frames"), int):
            s.published = end["frames"]
            dd = end.get("device_dropped", 0)
            s.device_dropped = dd if isinstance(dd, int) else 0
        _check_rate_and_end(s, r, session_end, paused_at_end)
        if s.unrecorded:
            s.problems.append(f"stream {s.stream_id}: {s.unrecorded} published frames are not in the recording")
    problems += outage_problems(reader, streams, events)
    status = str(reader.manifest.get("status", "?"))
    if status != "complete":
        why = f": {history[0]}" if history else ""
        problems.append(f"the session did not complete (status {status!r}){why}")
    problems += _node_problems(reader.manifest)
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


def outage_problems(reader: SessionReader, streams: list[StreamReport], events: list[dict]) -> list[str]:
    """Each restart of a device node on the timeline, measured in its streams' own frames."""
    by_id = {s.stream_id: s for s in streams}
    problems = []
    for ev in events:
        body = ev.get("body")
        if ev.get("topic") != messages.SESSION_NODE_RESTARTED or not isinstance(body, dict):
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
    for s in rep.streams:
        lines += [f"  note: {n}" for n in s.notes]
        for p in s.problems:
            lines.append(f"  problem: {p}")
    for p in rep.problems:
        lines.append(f"  problem: {p}")
    lines.append("  verdict: " + ("OK" if rep.ok else "PROBLEMS"))
    return "\n".join(lines)
