"""Recorder throughput at the rig's frame sizes against a raw file append, same run, same disk.

Four variants per size, interleaved over several rounds (mestudio/benches/_rounds.py):
  * raw append (the baseline): f.write of the same buffers, then fsync;
  * the session writer alone: frames.bin + index with checksums, then fsync;
  * the whole real path: frames sent by a second process through the wire format and Publisher
    into a PULL socket, drained by the recorder node's own loop (``drain`` + a flush, with its
    fdatasync, every ``flush_interval_s``) into the same Recorder class, then fsync;
  * the same path with the Publisher's shared-memory ring (``ring``): the socket carries the
    header and the slot, the recorder writes the frame from shared memory.
Each reports MB/s and the CPU of the recording process per MB (its zmq I/O thread included);
ratios are taken inside each round, then their median and spread over the rounds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import zmq

from mestudio.benches._procs import spawn
from mestudio.benches._rounds import Sample, cpu_s, interleave, paired_ratio, summary
from mestudio.benches.transport import _sender

HELP = "recorder write throughput (session writer and the full wire->recorder path) vs raw file append"

# name: (shape, dtype, frames per run, frames per quick run): ~600 MB a run, ~100 MB quick
SIZES = {
    "basler 1600x1200 mono8": ((1200, 1600), np.uint8, 300, 50),
    "face 640x480 mono8": ((480, 640), np.uint8, 2000, 300),
}
FULL_RIG_MB_PER_S = 755  # six Basler cameras at 60 fps
FLUSH_INTERVAL_S = 0.5
RING_MB = 256  # [transport] shared_memory_mb's default  # the recorder's default (config: recorder.flush_interval_s)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*.bin"):
        with open(p, "rb+") as f:
            os.fsync(f.fileno())


def _new_session(base: Path, name: str) -> Path:
    from mestudio.stream.session import write_json_atomic

    root = base / name
    root.mkdir()
    write_json_atomic(root / "manifest.json", {"format": "mestudio-session", "status": "complete", "t0_host_ns": 0})
    return root


def raw_append(base: Path, frames: list[np.ndarray], n: int) -> Sample:
    c, t = cpu_s(), time.perf_counter()
    with open(base / "raw.bin", "wb") as f:
        for i in range(n):
            f.write(frames[i % len(frames)].data.cast("B"))
        f.flush()
        os.fsync(f.fileno())
    wall = time.perf_counter() - t
    sample = Sample(wall, cpu_s() - c, frames[0].nbytes * n / 1e6)
    (base / "raw.bin").unlink()
    return sample


def writer_only(base: Path, frames: list[np.ndarray], n: int, codec: str | None = None, check: bool = False) -> Sample:
    """The session writer alone; ``codec``: compressed while written; ``check``: read back and compare."""
    from mestudio.stream.session_reader import SessionReader
    from mestudio.stream.session_writer import SessionWriter

    root = _new_session(base, "writer")
    w = SessionWriter(root, {"cam": codec} if codec else None)
    f0 = frames[0]
    s = w.stream("cam", f0.dtype.str, f0.shape, "mono8")
    c, t = cpu_s(), time.perf_counter()
    for i in range(n):
        s.append(i, None, i, frames[i % len(frames)].data.cast("B"))
    w.flush()
    w.close()
    _fsync_tree(root)
    sample = Sample(time.perf_counter() - t, cpu_s() - c, f0.nbytes * n / 1e6, {"disk_bytes": s.bytes})
    if check:
        st = SessionReader(root).stream("cam")
        sample.extra["bit_exact"] = len(st) == n and all(
            np.array_equal(frame, frames[i % len(frames)]) for i, (_, frame) in enumerate(st.frames())
        )
    shutil.rmtree(root)
    return sample


def rendered_frames(count: int, depth: bool) -> list[np.ndarray]:
    """Synthetic face camera frames (640x480 mono8) or Kinect depth (uint16 mm): what compresses
    is a picture, not the noise the throughput runs send."""
    from mestudio.capture.face.render import FaceView, source_gray
    from mestudio.capture.face.script import default_script

    script, view, src = default_script(60, 0), FaceView(640, 480), source_gray()
    view.warm(src, depth)
    out = []
    for k in range(count):
        smap = view.sampling_map(script, k / 60)
        out.append(view.render_depth(smap, k) if depth else view.render(script, k / 60, k, src, smap))
    return out


def compression(n: int, rounds: int) -> dict:
    """FFV1 while writing vs raw, on rendered face and depth frames: size, CPU, throughput, read-back."""
    out: dict = {}
    base = Path(tempfile.mkdtemp(prefix="mestudio-bench-ffv1-", dir=os.environ.get("MESTUDIO_BENCH_DIR")))
    try:
        for name, depth in (("face 640x480 mono8", False), ("kinect 640x480 depth16", True)):
            frames = rendered_frames(30, depth)
            got = interleave(
                {
                    "raw": partial(writer_only, base, frames, n),
                    "ffv1": partial(writer_only, base, frames, n, "ffv1", check=True),
                },
                rounds,
            )
            enc = got["ffv1"]
            out[name] = {
                "frames": n,
                "size_ratio_raw_to_ffv1": round(enc[0].mb * 1e6 / enc[0].extra["disk_bytes"], 2),
                "ffv1_fps_one_thread": round(n / statistics.median(s.cpu_s for s in enc), 1),
                "cpu_ms_per_MB": {"raw": summary(got["raw"])["cpu_ms_per_MB"], "ffv1": summary(enc)["cpu_ms_per_MB"]},
                "MB_per_s_of_frames": {"raw": summary(got["raw"])["MB_per_s"], "ffv1": summary(enc)["MB_per_s"]},
                "bit_exact_read_back": all(s.extra["bit_exact"] for s in enc),
                "rig_cores_needed_at_60fps": round(60 * statistics.median(s.cpu_s for s in enc) / n, 3),
            }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return out


def full_path(base: Path, shape, dtype, n: int, shared_memory_mb: int = 0) -> Sample:
    """The sender runs in its own process; timing starts at the first frame received.
    ``shared_memory_mb``: frames go through the sender's shared-memory ring (stream/shm_ring.py)."""
    from mestudio.stream.buffers import keep_freed_buffers
    from mestudio.stream.recorder import Recorder
    from mestudio.stream.recorder_node import drain

    keep_freed_buffers()  # as the recorder node does

    root = _new_session(base, "full")
    rec = Recorder(root)
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    ep = f"ipc://{base}/rec"
    pull.bind(ep)
    p = spawn(_sender, ep, f"ipc://{base}/pub", shape, dtype, n, None, True, None, shared_memory_mb)
    t = c = 0.0
    backlog = 0.0
    if pull.poll(60_000):
        t, c = time.perf_counter(), cpu_s()
        next_flush = t + FLUSH_INTERVAL_S
        while rec.messages < n and pull.poll(10_000):
            drain(pull, rec)
            backlog = max(backlog, rec.backlog_s())
            if time.perf_counter() >= next_flush:
                rec.flush(wait=False)
                next_flush = time.perf_counter() + FLUSH_INTERVAL_S
    got = rec.messages
    rec.flush()
    rec.close()
    _fsync_tree(root)
    wall, cpu = (time.perf_counter() - t, cpu_s() - c) if t else (float("inf"), 0.0)
    p.join(10)
    ctx.destroy(linger=0)
    shutil.rmtree(root)
    nbytes = int(np.dtype(dtype).itemsize * np.prod(shape))
    extra = {"lost": n - got, "backlog_max_s": backlog, "shared_memory_frames": rec.rings.frames}
    return Sample(wall, cpu, nbytes * got / 1e6, extra)


def measure_size(shape, dtype, n: int, rounds: int) -> dict:
    frames = [np.random.default_rng(i).integers(0, 255, shape).astype(dtype) for i in range(4)]
    base = Path(tempfile.mkdtemp(prefix="mestudio-bench-rec-", dir=os.environ.get("MESTUDIO_BENCH_DIR")))
    try:
        got = interleave(
            {
                "raw": lambda: raw_append(base, frames, n),
                "writer": lambda: writer_only(base, frames, n),
                "full": lambda: full_path(base, shape, dtype, n),
                "ring": lambda: full_path(base, shape, dtype, n, RING_MB),
            },
            rounds,
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    raw, writer, full, ring = got["raw"], got["writer"], got["full"], got["ring"]
    wire_ratio = paired_ratio(full, raw)
    wire = summary(full)
    ring_summary = summary(ring)
    return {
        "frames": n,
        "MB": round(frames[0].nbytes * n / 1e6, 1),
        "raw_append_MB_per_s": summary(raw)["MB_per_s"]["median"],
        "session_writer_MB_per_s": summary(writer)["MB_per_s"]["median"],
        "writer_ratio": paired_ratio(writer, raw)["median"],
        "wire_to_disk_MB_per_s": wire["MB_per_s"]["median"],
        "wire_to_disk_ratio": wire_ratio["median"],
        "wire_to_disk_frames_lost": sum(s.extra["lost"] for s in full if s.extra),
        "wire_to_disk_backlog_max_s": round(max(s.extra["backlog_max_s"] for s in full if s.extra), 3),
        "full_rig_fraction": round(wire["MB_per_s"]["median"] / FULL_RIG_MB_PER_S, 3),
        # the same path with the sender's shared-memory ring ([transport] shared_memory)
        "ring_to_disk_MB_per_s": ring_summary["MB_per_s"]["median"],
        "ring_to_disk_ratio": paired_ratio(ring, raw)["median"],
        "ring_to_disk_frames_lost": sum(s.extra["lost"] for s in ring if s.extra),
        "ring_frames_through_shared_memory": [s.extra["shared_memory_frames"] for s in ring if s.extra],
        "cpu_ms_per_MB": {
            "raw_append": summary(raw)["cpu_ms_per_MB"]["median"],
            "wire_to_disk": wire["cpu_ms_per_MB"]["median"],
            "ring_to_disk": ring_summary["cpu_ms_per_MB"]["median"],
        },
        "rounds": {
            "raw_append": summary(raw),
            "session_writer": summary(writer),
            "wire_to_disk": wire,
            "writer_ratio": paired_ratio(writer, raw),
            "wire_to_disk_ratio": wire_ratio,
            "ring_to_disk": ring_summary,
            "ring_to_disk_ratio": paired_ratio(ring, raw),
        },
    }


def run(args) -> dict:
    rounds = 2 if args.quick else 5
    out: dict = {}
    for name, (shape, dtype, n, n_quick) in SIZES.items():
        out[name] = measure_size(shape, dtype, n_quick if args.quick else n, rounds)
    out["live_compression"] = compression(60 if args.quick else 300, rounds)
    return out
