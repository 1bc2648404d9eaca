"""Recorder throughput at the rig's frame sizes against a raw file append, same run, same disk.

Three figures per size: the raw append (baseline: f.write of the same buffers, then fsync), the
session writer alone (frames.bin + index, then fsync), and the whole real path: frames sent by
a second process through the wire format and Publisher into the recorder's PULL, decoded and
written by the same Recorder class the recorder node runs, then fsync.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from mestudio.benches._procs import spawn
from mestudio.benches.transport import _sender

HELP = "recorder write throughput (session writer and the full wire->recorder path) vs raw file append"

SIZES = {"basler 1600x1200 mono8": ((1200, 1600), np.uint8), "face 640x480 mono8": ((480, 640), np.uint8)}


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


def raw_append(base: Path, frames: list[np.ndarray], n: int) -> float:
    t = time.perf_counter()
    with open(base / "raw.bin", "wb") as f:
        for i in range(n):
            f.write(frames[i % len(frames)].data.cast("B"))
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - t


def writer_only(base: Path, frames: list[np.ndarray], n: int) -> float:
    from mestudio.stream.session import SessionWriter

    w = SessionWriter(_new_session(base, "writer"))
    f0 = frames[0]
    s = w.stream("cam", f0.dtype.str, f0.shape, "mono8")
    t = time.perf_counter()
    for i in range(n):
        s.append(i, None, i, frames[i % len(frames)].data.cast("B"))
    w.flush()
    w.close()
    _fsync_tree(base / "writer")
    return time.perf_counter() - t


def full_path(base: Path, shape, dtype, n: int) -> tuple[float, int]:
    from mestudio.stream.recorder import Recorder

    root = _new_session(base, "full")
    rec = Recorder(root)
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    ep = f"ipc://{base}/rec"
    pull.bind(ep)
    p = spawn(_sender, ep, f"ipc://{base}/pub", shape, dtype, n, None, True)
    got, t = 0, 0.0
    while got < n and pull.poll(10_000):
        parts = pull.recv_multipart(copy=False)
        t = t or time.perf_counter()
        rec.handle(parts)
        got += 1
    rec.flush()
    rec.close()
    _fsync_tree(root)
    dt = time.perf_counter() - t
    p.join(10)
    ctx.destroy(linger=0)
    return dt, got


def run(args) -> dict:
    n = 100 if args.quick else 500
    out: dict = {}
    for name, (shape, dtype) in SIZES.items():
        frames = [np.random.default_rng(i).integers(0, 255, shape).astype(dtype) for i in range(4)]
        mb = frames[0].nbytes * n / 1e6
        base = Path(tempfile.mkdtemp(prefix="mestudio-bench-rec-", dir=os.environ.get("MESTUDIO_BENCH_DIR")))
        try:
            t_raw = raw_append(base, frames, n)
            t_w = writer_only(base, frames, n)
            t_full, got = full_path(base, shape, dtype, n)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        raw = mb / t_raw
        out[name] = {
            "frames": n,
            "MB": round(mb, 1),
            "raw_append_MB_per_s": round(raw, 1),
            "session_writer_MB_per_s": round(mb / t_w, 1),
            "writer_ratio": round(t_raw / t_w, 3),
            "wire_to_disk_MB_per_s": round(mb / t_full, 1),
            "wire_to_disk_ratio": round(t_raw / t_full, 3),
            "wire_to_disk_frames_lost": n - got,
            "full_rig_fraction": round(mb / t_full / 755, 3),
        }
    return out
