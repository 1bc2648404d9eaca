"""One recorded stream's integrity: its report, and the checks that need only the stream itself
(sequence gaps and order, clocks running backwards, torn or missing data, checksums) or the
session's end (a device that stopped early, or delivered under its configured rate)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mestudio.stream.session import NO_DEVICE_TIME
from mestudio.stream.session_reader import StreamReader

MAX_GAPS_LISTED = 20
MAX_SEQS_LISTED = 20
MIN_RATE_FRACTION = 0.95  # a stream below this share of its configured rate is a problem
EARLY_END_S = 1.0  # a stream whose last frame is this long before the session's end ended early
# streams another program sends (LSL inlets): when they end is the sender's business, not a dead device
EXTERNAL_MEDIA = ("signal", "markers")


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


def seq_list(seqs: list[int]) -> str:
    """The first few sequence numbers, for a message."""
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
        rep.problems.append(f"stream {sid}: {len(bad)} frames fail their CRC32C checksum (seq {seq_list(bad)})")
    if len(idx) == 0:
        rep.problems.append(f"stream {sid}: no readable frames")
    return rep


def check_rate_and_end(s: StreamReport, reader: StreamReader, session_end_ns: int | None, paused_at_end: bool) -> None:
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
