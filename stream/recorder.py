"""The recorder node: PULL every producer's messages and append them to the session folder.

Lossless by construction: producers PUSH to it, so a full queue waits instead of dropping, and
what a producer did have to drop is counted by that producer.  Data is flushed every
``flush_interval_s`` (<= 1 s).  It stops cleanly (and says why) when the disk fills or free space
falls under ``min_free_mb``, keeping everything written so far.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import zmq

from mestudio.stream import messages, wire
from mestudio.stream.codec import pixel_format_for
from mestudio.stream.errors import DiskFullError, WireFormatError
from mestudio.stream.messages import RejectCounter
from mestudio.stream.node import NodeContext
from mestudio.stream.session import (
    RESERVE,
    SessionReader,
    SessionWriter,
    StreamWriter,
    _is_disk_full,
    write_json_atomic,
    write_timestamps_csv,
)

EXIT_DISK_FULL = 3
RESERVE_BYTES = 4 << 20
BEHIND_S = 1.0  # a backlog past this is noted in the log and the timeline (and its end too)


def keep_freed_buffers() -> bool:
    """Let glibc reuse freed frame buffers instead of giving each back to the kernel.

    By default a freed block over 128 KB is unmapped, so every received frame (zmq allocates one
    block per message) is a fresh mapping that faults in page by page: ~470 page faults per
    1600x1200 frame, a third of the recorder's CPU (profiled with `mestudio bench recorder`).
    The cost: the process keeps the memory of its deepest queue.  False where there is no glibc."""
    try:
        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def hold_reserve(session_dir: Path) -> Path:
    """Take RESERVE_BYTES of the disk now, so that a full disk still has room for recorder.json,
    the log's last lines and the final manifest (a disk too full for it stops us at once)."""
    path = Path(session_dir) / RESERVE
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]  # a file-size limit caps the reserve too
    size = RESERVE_BYTES if limit == resource.RLIM_INFINITY else min(RESERVE_BYTES, limit // 4)
    with open(path, "wb") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as e:
            if not _is_disk_full(e):  # a filesystem without fallocate: write the zeros
                f.write(b"\0" * size)
            else:
                raise
        f.flush()
        os.fsync(f.fileno())
    return path


class Backlog:
    """Seconds behind, per stream: a frame's wait from its host stamp to its write, less the
    shortest wait seen on that stream (the transport's floor; it also cancels a remote host's
    clock offset, so no clock needs to be trusted here)."""

    def __init__(self) -> None:
        self._floor: dict[str, int] = {}
        self._last: dict[str, int] = {}
        self._span: dict[str, tuple[int, int, int]] = {}  # stream -> first host stamp, last, bytes since
        self.max_s = 0.0

    def saw(self, stream_id: str, wait_ns: int, host_ns: int = 0, nbytes: int = 0) -> None:
        first, _, total = self._span.get(stream_id, (host_ns, host_ns, -nbytes))  # the first frame: no span
        self._span[stream_id] = (first, host_ns, total + nbytes)
        floor = self._floor.get(stream_id)
        if floor is None or wait_ns < floor:
            self._floor[stream_id] = floor = wait_ns
        behind = wait_ns - floor
        self._last[stream_id] = behind
        if behind > self.max_s * 1e9:
            self.max_s = behind / 1e9

    def of_s(self, stream_id: str) -> float:
        return self._last.get(stream_id, 0) / 1e9

    def worst_s(self) -> float:
        return max(self._last.values(), default=0) / 1e9

    def queued_mb(self) -> float:
        """What waits in the queue, estimated: each stream's backlog times the rate its producer
        stamps frames at (bytes over host-stamp span; the queue itself cannot be asked)."""
        mb = 0.0
        for sid, (first, last, total) in self._span.items():
            if last > first:
                mb += self.of_s(sid) * total / ((last - first) / 1e9) / 1e6
        return mb


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc; 0 where there is none)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


class WriteThrottle:
    """A disk slower than ours, for real: after each batch, wait until the bytes written since the
    first frame would have taken ``mb_per_s`` (config ``recorder.write_mb_per_s``; 0 = off).  The
    tests use it to make the recorder truly fall behind its producers; no session should set it."""

    def __init__(self, mb_per_s: float) -> None:
        self.bytes_per_s = mb_per_s * 1e6
        self.started: float | None = None  # when the first bytes were written

    def hold(self, bytes_written: int, stop: threading.Event) -> bool:
        """True (after waiting up to 0.1 s) while the slow disk would still be busy: do not write."""
        if self.bytes_per_s <= 0 or stop.is_set() or not bytes_written:  # stopping: drain at full speed
            return False
        if self.started is None:
            self.started = time.monotonic()
        left = self.started + bytes_written / self.bytes_per_s - time.monotonic()
        if left <= 0:
            return False
        stop.wait(min(left, 0.1))  # short waits: the loop still flushes and reports on time
        return True


class Recorder:
    """Writes decoded messages into a SessionWriter and keeps the counts of what it saw.

    Every message is untrusted: one that breaks the wire format or its topic's body model is
    counted per kind (``rejects``), noted once per kind, and never stops the recording."""

    def __init__(
        self,
        session_dir: Path,
        log: Callable[[str], None] | None = None,
        compress: dict[str, str] | None = None,
        max_backlog_s: float = 0.0,
        max_backlog_mb: float = 0.0,
    ) -> None:
        self.writer = SessionWriter(session_dir, compress)
        self.root = Path(session_dir)
        self.messages = 0
        self.note = self._noted(log)
        self.rejects = RejectCounter("recorder", self.note)
        self.ends: dict[str, dict] = {}  # producer stream id -> its END body
        self.paused = False  # the operator stopped recording: frames are counted, not written
        self.skipped_while_paused: dict[str, int] = {}
        self.started_ns = time.monotonic_ns()
        self.lag = Backlog()
        self.behind = False  # noted as behind by more than BEHIND_S, not yet caught up
        # past either bound (0 = none) the session is told loudly that the recorder cannot keep up;
        # nothing is dropped for it: the queue goes on growing in memory, and says how much
        self.max_backlog_s, self.max_backlog_mb = max_backlog_s, max_backlog_mb
        self.cannot_keep_up = False
        self.cannot_keep_up_times = 0

    def _noted(self, log: Callable[[str], None] | None) -> Callable[[str], None]:
        def note(text: str) -> None:  # the log, and the session's timeline (once per kind and interval)
            if log is not None:
                log(text)
            self.writer.event(
                {
                    "topic": messages.RECORDER_REJECTED,
                    "kind": "event",
                    "stream_id": "recorder",
                    "seq": 0,
                    "host_time_ns": wire.now_ns(),
                    "device_time_ns": None,
                    "body": {"note": text},
                }
            )

        return note

    def backlog_s(self) -> float:
        """How far behind its producers the recorder is now, in seconds (worst stream)."""
        return self.lag.worst_s()

    def check_backlog(self, log: Callable[[str], None] | None = None) -> None:
        """Note in the timeline (and the log) when the backlog passes BEHIND_S, and when it is
        back under half of it: falling behind is never silent."""
        now_s = self.lag.worst_s()
        self._check_bound(now_s, log)
        if not self.behind and now_s > BEHIND_S:
            self.behind = True
        elif self.behind and now_s < BEHIND_S / 2:
            self.behind = False
        else:
            return
        text = (
            f"recorder: {now_s:.1f} s behind its producers (the disk or the CPU is too slow for the rig)"
            if self.behind
            else f"recorder: caught up ({now_s:.2f} s behind; at worst {self.lag.max_s:.1f} s)"
        )
        if log is not None:
            log(text)
        self.writer.event(
            {
                "topic": messages.RECORDER_BEHIND,
                "kind": "event",
                "stream_id": "recorder",
                "seq": 0,
                "host_time_ns": wire.now_ns(),
                "device_time_ns": None,
                "body": {"behind": self.behind, "backlog_s": round(now_s, 3), "note": text},
            }
        )

    def _check_bound(self, now_s: float, log: Callable[[str], None] | None) -> None:
        """Past max_backlog_s or max_backlog_mb: a session problem (not fatal) and a timeline event,
        once per episode; the episode ends with the backlog back under half of BEHIND_S."""
        mb = self.lag.queued_mb()
        over = (self.max_backlog_s > 0 and now_s > self.max_backlog_s) or (
            self.max_backlog_mb > 0 and mb > self.max_backlog_mb
        )
        if over and not self.cannot_keep_up:
            self.cannot_keep_up = True
            self.cannot_keep_up_times += 1
            text = (
                f"recorder cannot keep up: {now_s:.1f} s behind its producers, ~{mb:.0f} MB queued in memory "
                f"(bounds: recorder.max_backlog_s = {self.max_backlog_s:g}, max_backlog_mb = {self.max_backlog_mb:g});"
                " nothing is dropped yet, but the disk or the CPU is too slow for this rig"
            )
            self._event(messages.SESSION_PROBLEM, messages.SessionProblem(problem=text, fatal=False).to_wire())
        elif self.cannot_keep_up and now_s < BEHIND_S / 2:
            self.cannot_keep_up = False
            text = f"recorder keeps up again ({now_s:.2f} s behind; at worst {self.lag.max_s:.1f} s)"
        else:
            return
        if log is not None:
            log(text)
        self._event(
            messages.RECORDER_CANNOT_KEEP_UP,
            {
                "cannot_keep_up": self.cannot_keep_up,
                "backlog_s": round(now_s, 3),
                "queued_mb": round(mb, 1),
                "rss_mb": round(rss_mb(), 1),
                "note": text,
            },
        )

    def _event(self, topic: str, body: dict) -> None:
        self.writer.event(
            {
                "topic": topic,
                "kind": "event",
                "stream_id": "recorder",
                "seq": 0,
                "host_time_ns": wire.now_ns(),
                "device_time_ns": None,
                "body": body,
            }
        )

    @property
    def bad_messages(self) -> int:
        return self.rejects.total

    def handle(self, parts: list) -> None:
        try:
            self._handle(parts)
        except WireFormatError as e:
            self.rejects.reject(e)

    def _handle(self, parts: list) -> None:
        msg = wire.decode(parts)
        h = msg.header
        if h.kind == wire.Kind.FRAME:
            w = self.writer.streams.get(h.stream_id)
            if w is not None and (w.info["dtype"] != h.dtype or tuple(w.info["shape"]) != h.shape):
                raise WireFormatError(
                    f"stream {h.stream_id!r} seq {h.seq}: {h.shape} {h.dtype}, but the stream is "
                    f"{tuple(w.info['shape'])} {w.info['dtype']}",
                    kind="frame-layout",
                )
            self.messages += 1
            if self.paused:
                self.skipped_while_paused[h.stream_id] = self.skipped_while_paused.get(h.stream_id, 0) + 1
                return
            if w is None:
                w = self._stream(h.stream_id, h.dtype, h.shape, h.pixel_format)
            payload = msg.raw.buffer if isinstance(msg.raw, zmq.Frame) else msg.raw
            now = time.monotonic_ns()
            self.lag.saw(h.stream_id, now - h.host_time_ns, h.host_time_ns, len(payload))
            w.append(h.seq, h.device_time_ns, h.host_time_ns, payload, now)
            return
        body = messages.parse_body(msg.topic, msg.data)
        if isinstance(body, messages.StreamInfoBody):
            if msg.topic != messages.info_topic(body.stream_id):
                raise messages.MessageError(f"{msg.topic}: describes stream {body.stream_id!r}", kind="body-invalid")
            w = self.writer.streams.get(body.stream_id)
            if w is not None and (w.info["dtype"] != body.dtype or list(w.info["shape"]) != body.shape):
                raise messages.MessageError(
                    f"{msg.topic}: {body.shape} {body.dtype} contradicts the stream's frames "
                    f"{w.info['shape']} {w.info['dtype']}",
                    kind="frame-layout",
                )
        self.messages += 1
        record = {
            "topic": msg.topic,
            "kind": h.kind.name.lower(),
            "stream_id": h.stream_id,
            "seq": h.seq,
            "host_time_ns": h.host_time_ns,
            "device_time_ns": h.device_time_ns,
            "body": msg.data,
        }
        if isinstance(body, messages.StreamInfoBody):
            self._stream(body.stream_id, body.dtype, tuple(body.shape), body.pixel_format).describe(msg.data)
        if h.kind == wire.Kind.END:
            self.ends[h.stream_id] = msg.data
        self.writer.event(record)

    def _stream(self, sid: str, dtype: str, shape: tuple, pixel_format: str) -> StreamWriter:
        """The stream's writer; a stream its codec cannot hold is recorded raw, and said so."""
        codec = self.writer.compress.get(sid)
        if codec and sid not in self.writer.streams and pixel_format_for(dtype, shape) is None:
            self.note(
                f"recorder.compress: stream {sid!r} is {shape} {dtype}, which {codec} cannot hold "
                "(8- or 16-bit gray pictures): recorded uncompressed"
            )
            self.writer.compress.pop(sid)
        return self.writer.stream(sid, dtype, shape, pixel_format)

    def command(self, parts: list) -> None:
        """One message from the supervisor's broadcast, validated like any other."""
        try:
            msg = wire.decode(parts)
            messages.parse_body(msg.topic, msg.data)
        except WireFormatError as e:
            self.rejects.reject(e)
            return
        self.operator(msg.topic.removeprefix(messages.COMMAND))

    def operator(self, verb: str) -> None:
        """`command/record-stop` and `command/record-start` from the experimenter."""
        if verb in ("record-stop", "record-start"):
            self.paused = verb == "record-stop"
            self.writer.event(
                {
                    "topic": messages.RECORDER_PAUSED if self.paused else messages.RECORDER_RESUMED,
                    "kind": "event",
                    "stream_id": "recorder",
                    "seq": 0,
                    "host_time_ns": wire.now_ns(),
                    "device_time_ns": None,
                    "body": {"skipped_while_paused": dict(self.skipped_while_paused)},
                }
            )

    def bytes_written(self) -> int:
        return sum(w.bytes for w in self.writer.streams.values())

    def status_body(self) -> messages.RecorderStatus:
        """What viewers are told each flush (messages.RECORDER_STATUS)."""
        return messages.RecorderStatus(
            backlog_s=round(self.lag.worst_s(), 3),
            backlog_max_s=round(self.lag.max_s, 3),
            behind=self.behind,
            cannot_keep_up=self.cannot_keep_up,
            queued_mb=round(self.lag.queued_mb(), 1),
            rss_mb=round(rss_mb(), 1),
            streams={sid: round(self.lag.of_s(sid), 3) for sid in self.writer.streams},
            messages=self.messages,
            bytes=self.bytes_written(),
        )

    def status(self) -> dict:
        return {
            "messages": self.messages,
            "bad_messages": self.bad_messages,
            "rejected": dict(self.rejects.counts),
            "paused": self.paused,
            "skipped_while_paused": dict(self.skipped_while_paused),
            "bytes": sum(w.bytes for w in self.writer.streams.values()),
            "backlog_s": round(self.lag.worst_s(), 3),
            "backlog_max_s": round(self.lag.max_s, 3),
            "cannot_keep_up": self.cannot_keep_up,
            "cannot_keep_up_times": self.cannot_keep_up_times,
            "queued_mb": round(self.lag.queued_mb(), 1),
            "rss_mb": round(rss_mb(), 1),
            "streams": {
                sid: {
                    "frames": w.frames,
                    "gaps": w.gaps,
                    "bytes": w.bytes,
                    "last_seq": w.last_seq,
                    "backlog_s": round(self.lag.of_s(sid), 3),
                }
                for sid, w in self.writer.streams.items()
            },
            # when these counts were taken: a restarted device goes on from last_seq (supervisor)
            "status_ns": wire.now_ns(),
        }

    def report(self, stopped_because: str) -> dict:
        rep = {
            **self.status(),
            "stopped_because": stopped_because,
            "producers_ended": sorted(self.ends),
            "producer_ends": self.ends,
            "duration_s": (time.monotonic_ns() - self.started_ns) / 1e9,
        }
        write_json_atomic(self.root / "recorder.json", rep)
        return rep

    def flush(self, wait: bool = True) -> None:
        self.writer.flush(wait)

    def close(self) -> None:
        self.writer.close()


def drain(sock: zmq.Socket, rec: Recorder, limit: int = 256) -> int:
    """Handle the messages already queued, at most ``limit`` (then the caller flushes if due)."""
    n = 0
    while n < limit:
        try:
            parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            break
        rec.handle(parts)
        n += 1
    return n


def free_mb(path: Path) -> float:
    return shutil.disk_usage(path).free / 1e6


def run(ctx: NodeContext) -> int:
    """The recorder process's main loop."""
    rcfg = ctx.config.recorder
    # past a file-size limit, get EFBIG (handled like a full disk) instead of being killed
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    keep_freed_buffers()
    sock = ctx.zmq.socket(zmq.PULL)
    # never drop on our side: the queue grows in memory while we are behind (Recorder's bounds say so)
    sock.rcvhwm = 0
    sock.linger = 0
    ctx.endpoints.bind(ctx.zmq, sock, ctx.endpoints.recorder)
    commands = ctx.zmq.socket(zmq.SUB)
    commands.linger = 0
    commands.setsockopt(zmq.SUBSCRIBE, messages.command_topic("record-").encode())
    ctx.endpoints.connect(commands, ctx.endpoints.broadcast)
    # viewers learn the backlog from here: a lossy PUB of the recorder's own (HWM 2, never waits)
    status_pub = ctx.zmq.socket(zmq.PUB)
    status_pub.sndhwm, status_pub.linger = 2, 0
    if ctx.endpoints.recorder_status:
        ctx.endpoints.bind(ctx.zmq, status_pub, ctx.endpoints.recorder_status)
    status_seq = 0
    rec = Recorder(ctx.session_dir, ctx.log.warning, dict(rcfg.compress), rcfg.max_backlog_s, rcfg.max_backlog_mb)
    throttle = WriteThrottle(rcfg.write_mb_per_s)
    batch = 8 if rcfg.write_mb_per_s else 256  # throttled: small batches, so the waits stay short
    try:
        reserve = hold_reserve(ctx.session_dir)
    except OSError as e:
        rec.close()
        sock.close()
        commands.close()
        status_pub.close()
        ctx.heartbeat({"error": f"disk full before recording: cannot reserve {RESERVE_BYTES >> 20} MB ({e.strerror})"})
        return EXIT_DISK_FULL
    ctx.heartbeat({"ready": True, **rec.status()})
    stopped_because, code = "stopped", 0
    next_flush = time.monotonic() + rcfg.flush_interval_s
    quiet_since = None
    try:
        while True:
            while commands.poll(0):
                rec.command(commands.recv_multipart(copy=False))
            if rcfg.write_mb_per_s and throttle.hold(rec.bytes_written(), ctx.stop):
                pass  # the simulated slow disk is busy: frames wait in our queue
            elif sock.poll(100):
                quiet_since = None
                drain(sock, rec, batch)
            elif ctx.stop.is_set():
                # producers are stopped before us; what they sent is already in our queue
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 0.3:
                    break
            if time.monotonic() >= next_flush:
                rec.flush(wait=False)  # synced beside the loop; waited for at the next flush
                rec.check_backlog(ctx.log.warning)
                status_seq += 1
                publish_status(status_pub, rec, status_seq)
                next_flush = time.monotonic() + rcfg.flush_interval_s
                free = free_mb(ctx.session_dir)
                ctx.heartbeat({**rec.status(), "free_mb": round(free)})
                if free < rcfg.min_free_mb:
                    raise DiskFullError(
                        f"free space {free:.0f} MB fell under recorder.min_free_mb = "
                        f"{rcfg.min_free_mb}: recording stopped to keep the disk usable"
                    )
    except DiskFullError as e:
        stopped_because, code = str(e), EXIT_DISK_FULL
    except OSError as e:
        if not _is_disk_full(e):
            raise
        stopped_because, code = f"disk full while recording ({e.strerror})", EXIT_DISK_FULL
    finally:
        reserve.unlink(missing_ok=True)  # room for what follows (and nothing else writes frames now)
        try:
            rec.flush()
        except OSError:
            pass  # the torn tail is trimmed by verify
        rec.close()
        sock.close()
        commands.close()
        status_pub.close()
    if code:
        ctx.heartbeat({"error": stopped_because})
    try:
        rep = rec.report(stopped_because)
    except OSError as e:  # a full disk may not even take the report; verify rebuilds it
        ctx.log.error("recorder: could not write recorder.json (%s)", e)
        rep = {**rec.status(), "stopped_because": stopped_because}
    ctx.heartbeat({**rec.status(), "stopped_because": stopped_because})
    if code == 0:
        finish_timestamps(ctx.session_dir)
    ctx.log.info("recorder: %d messages, %.1f MB", rep["messages"], rep["bytes"] / 1e6)
    return code


def publish_status(pub: zmq.Socket, rec: Recorder, seq: int) -> None:
    """Send the backlog to whoever watches; nobody watching (or a slow viewer) costs nothing."""
    body = rec.status_body().to_wire()
    parts = wire.json_parts(wire.Kind.EVENT, "recorder", seq, body, topic=messages.RECORDER_STATUS)
    try:
        wire.send(pub, parts, zmq.NOBLOCK)
    except zmq.Again:
        pass  # viewers are lossy by design


def finish_timestamps(session_dir: Path) -> None:
    """Write each stream's timestamps.csv, relative to the session's t0."""
    reader = SessionReader(session_dir)
    t0 = int(reader.manifest.get("t0_host_ns", 0))
    for sid in reader.stream_ids():
        write_timestamps_csv(reader.stream(sid), t0)
