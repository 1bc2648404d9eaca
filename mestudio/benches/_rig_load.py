"""A rig's worth of frames for a real recorder, and what the recorder's own index says of them.

`RigProducer` sends the 4D rig's six 1600x1200 mono8 streams through a `Publisher` (the recorder's
PUSH and the viewers' PUB, as a device node does), either as fast as the recorder takes them or
paced at the cameras' rate (six frames, one per camera, every 1/60 s: 691 MB/s, the study's rig).
`read_phase` reads back, from each stream's index.bin, the records of the frames one phase sent:
what was written, when the recorder received each frame and how late that was.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mestudio.benches._procs import thread_schedstat

RIG_SHAPE = (1200, 1600)
RIG_CAMERAS = 6
RIG_FPS = 60.0


def process_sched_ns(pid: int) -> tuple[int, int]:
    """(CPU ns, run-queue wait ns) of every thread of process ``pid`` so far ((0, 0) where /proc
    does not say)."""
    threads = thread_schedstat(pid).values()
    return sum(run for run, _ in threads), sum(wait for _, wait in threads)


def process_cpu_ns(pid: int) -> int:
    """CPU ns of every thread of process ``pid`` so far (0 where /proc does not say)."""
    return process_sched_ns(pid)[0]


def announce(pub, sid: str, shape: tuple[int, ...]) -> None:
    """The stream's info message, as a device node sends before its first frame."""
    from mestudio.stream import messages, wire

    body = messages.StreamInfoBody(stream_id=sid, dtype="|u1", shape=list(shape), pixel_format="mono8").to_wire()
    pub.send(wire.json_parts(wire.Kind.EVENT, sid, 0, body, topic=messages.info_topic(sid)))


class RigProducer:
    """Six camera streams whose sequence numbers run on from phase to phase."""

    def __init__(self, pub, prefix: str = "cam", cameras: int = RIG_CAMERAS) -> None:
        self.pub = pub
        self.sids = [f"{prefix}{k}" for k in range(cameras)]
        self.sent = [0] * cameras  # frames sent so far, per stream (the next sequence number)
        # distinct content per camera, fixed: the recorder checksums real bytes
        self.frames = [np.random.default_rng(k).integers(0, 255, RIG_SHAPE, dtype=np.uint8) for k in range(cameras)]
        for sid in self.sids:
            announce(pub, sid, RIG_SHAPE)

    def _send_one(self, k: int) -> None:
        from mestudio.stream import wire

        parts = wire.frame_parts(
            self.sids[k], self.sent[k], self.frames[k], host_time_ns=wire.now_ns(), pixel_format="mono8"
        )
        if self.pub.send(parts):
            self.sent[k] += 1

    def run(self, seconds: float, fps: float | None = None) -> None:
        """Send for ``seconds``: one frame per camera per tick, ticks at ``fps`` (None: as fast as
        the recorder's queue takes them; a full queue blocks the send, as it does a device node)."""
        t0 = time.monotonic()
        tick = 0
        while time.monotonic() - t0 < seconds:
            for k in range(len(self.sids)):
                self._send_one(k)
            tick += 1
            if fps:
                delay = t0 + tick / fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


@dataclass
class PhaseRecords:
    """The index records of one phase's frames, every stream together."""

    expected: int
    seq_ok: bool
    recv_ns: np.ndarray
    host_ns: np.ndarray
    nbytes: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.recv_ns)

    @property
    def mb(self) -> float:
        return float(self.nbytes.sum()) / 1e6

    def mb_per_s(self) -> float:
        """Bytes over the span of their receive times: the recorder's own pace."""
        if self.frames < 2:
            return 0.0
        dt = (int(self.recv_ns.max()) - int(self.recv_ns.min())) / 1e9
        return self.mb / dt if dt > 0 else 0.0

    def lag_ms(self) -> dict:
        """Host stamp to the recorder's receive, per frame: how far behind the producer it was."""
        if not self.frames:
            return {"p50": None, "p99": None, "max": None}
        lag = (self.recv_ns - self.host_ns) / 1e6
        return {
            "p50": round(float(np.percentile(lag, 50)), 2),
            "p99": round(float(np.percentile(lag, 99)), 2),
            "max": round(float(lag.max()), 2),
        }


def read_phase(root: Path, sids: list[str], start: list[int], stop: list[int], timeout_s: float = 60.0) -> PhaseRecords:
    """Wait until the recorder's index holds frames ``start[k]`` to ``stop[k]`` (exclusive) of
    each stream ``sids[k]``, at most ``timeout_s``, then read those records (what is missing
    then is counted, not waited for).  Index records are written after their frames are synced,
    so a complete index means the phase's frames are on the storage."""
    from mestudio.stream.session import INDEX_DTYPE

    size = INDEX_DTYPE.itemsize
    paths = [root / "streams" / sid / "index.bin" for sid in sids]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if all(p.exists() and p.stat().st_size >= n * size for p, n in zip(paths, stop)):
            break
        time.sleep(0.05)
    chunks, ok = [], True
    for p, a, b in zip(paths, start, stop):
        raw = p.read_bytes() if p.exists() else b""
        idx = np.frombuffer(raw[: len(raw) // size * size], INDEX_DTYPE)[a:b]
        ok &= bool(len(idx) == b - a and (len(idx) == 0 or (idx["seq"] == np.arange(a, a + len(idx))).all()))
        chunks.append(idx)
    rows = np.concatenate(chunks) if chunks else np.empty(0, INDEX_DTYPE)
    return PhaseRecords(
        expected=sum(b - a for a, b in zip(start, stop)),
        seq_ok=ok,
        recv_ns=rows["recv_time_ns"].astype(np.int64),
        host_ns=rows["host_time_ns"].astype(np.int64),
        nbytes=rows["nbytes"].astype(np.int64),
    )


def free_written(root: Path, sids: list[str]) -> None:
    """Give back the RAM a phase's frames took on tmpfs: frames.bin is cut to nothing (the
    recorder appends; what it writes next lands at the new end), the index stays whole."""
    for sid in sids:
        try:
            os.truncate(root / "streams" / sid / "frames.bin", 0)
        except OSError:
            pass  # not created yet: nothing to give back
