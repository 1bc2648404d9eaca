"""The recorder process: PULL every producer's messages and append them to the session folder.

Lossless by construction up to a memory bound: producers PUSH to it, so a full queue waits
instead of dropping, and what a producer did have to drop is counted by that producer; past
``recorder.shed_above_mb`` of queue the recorder sheds frames, counted, rather than be killed for
the memory (stream/recorder.py).  Data is flushed every
``flush_interval_s`` (<= 1 s).  It stops cleanly (and says why) when the disk fills or free space
falls under ``min_free_mb``, keeping everything written so far.  What it does with each message is
the ``Recorder``'s (stream/recorder.py).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import time
from pathlib import Path

import zmq

from mestudio.stream import messages, wire
from mestudio.stream.backlog import WriteThrottle, shed_bound_mb
from mestudio.stream.buffers import keep_freed_buffers
from mestudio.stream.errors import DiskFullError
from mestudio.stream.node import NodeContext
from mestudio.stream.recorder import Recorder
from mestudio.stream.session import RESERVE, is_disk_full
from mestudio.stream.session_reader import SessionReader, write_timestamps_csv

EXIT_DISK_FULL = 3
RESERVE_BYTES = 4 << 20


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
            if not is_disk_full(e):  # a filesystem without fallocate: write the zeros
                f.write(b"\0" * size)
            else:
                raise
        f.flush()
        os.fsync(f.fileno())
    return path


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
    # no drop in ZeroMQ: the queue grows in memory while we are behind (Recorder's bounds say so,
    # and past recorder.shed_above_mb it sheds, counted, rather than be killed for the memory)
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
    rec = Recorder(
        ctx.session_dir,
        ctx.log.warning,
        dict(rcfg.compress),
        rcfg.max_backlog_s,
        rcfg.max_backlog_mb,
        shed_bound_mb(rcfg.shed_above_mb),
    )
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
        if not is_disk_full(e):
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
