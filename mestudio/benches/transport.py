"""Throughput and latency of the real wire path between two processes, against raw pyzmq.

Both variants run interleaved over several rounds; the figures are medians with their spread,
the ratio is taken inside each round (a raw baseline that moved between runs moved its ratio).
Real path: wire.frame_parts + Publisher (PUSH to a recorder-like PULL, plus the viewers' PUB)
and wire.recv/decode on the other side.  Baseline, same run, same sizes: raw pyzmq zero-copy
[small header, buffer] over PUSH/PULL ipc.  Latency is measured paced at the rig's rate.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
import zmq

from mestudio.benches._procs import percentiles_ms, spawn
from mestudio.benches._rounds import Sample, cpu_s, interleave, paired_ratio, summary

HELP = "wire-format transport between processes vs raw pyzmq zero-copy (throughput, latency)"

SIZES = {
    "basler 1600x1200 mono8": ((1200, 1600), np.uint8),
    "face 640x480 mono8": ((480, 640), np.uint8),
    "kinect 640x480 rgb8": ((480, 640, 3), np.uint8),
    "kinect 640x480 depth16": ((480, 640), np.uint16),
}


def _sender(endpoint: str, viewer_ep: str, shape, dtype, n: int, rate: float | None, real: bool) -> None:
    from mestudio.stream import wire
    from mestudio.stream.bus import Endpoints, Publisher

    ctx = zmq.Context()
    frames = [np.random.default_rng(i).integers(0, 255, shape).astype(dtype) for i in range(4)]
    if real:
        eps = Endpoints(endpoint, "", "", "", {"bench": viewer_ep})
        pub = Publisher(ctx, eps, "bench", record_hwm=100)
        send = lambda parts: pub.send(parts)  # noqa: E731
    else:
        sock = ctx.socket(zmq.PUSH)
        sock.sndhwm = 100
        sock.connect(endpoint)
        send = lambda parts: sock.send_multipart(parts, copy=False) is None  # noqa: E731  # True: queued
    period = 1 / rate if rate else 0
    t0 = time.perf_counter()
    for i in range(n):
        if period:
            due = t0 + i * period
            while time.perf_counter() < due:
                pass
        f = frames[i % 4]
        now = time.monotonic_ns()
        if real:
            send(wire.frame_parts("bench", i, f, host_time_ns=now, pixel_format="mono8"))
        else:
            send([now.to_bytes(8, "little"), memoryview(f).cast("B")])
    if real:
        pub.close()
    ctx.destroy(linger=None)


def measure(shape, dtype, n: int, rate: float | None, real: bool, tag: str) -> dict:
    from mestudio.stream import wire

    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    ep = f"ipc:///tmp/mestudio-bench-{tag}"
    pull.bind(ep)
    p = spawn(_sender, ep, ep + "-pub", shape, dtype, n, rate, real)
    lat, got, nbytes, t_first = [], 0, 0, None
    while got < n and pull.poll(10_000):
        parts = pull.recv_multipart(copy=False)
        now = time.monotonic_ns()
        t_first = t_first or time.perf_counter()
        if real:
            m = wire.decode(parts)
            lat.append(now - m.header.host_time_ns)
            nbytes += m.data.nbytes
        else:
            lat.append(now - int.from_bytes(parts[0].bytes, "little"))
            nbytes += len(parts[1].buffer)
        got += 1
    dt = time.perf_counter() - (t_first or time.perf_counter())
    p.join(10)
    ctx.destroy(linger=0)
    out: dict = {"frames": got, "lost": n - got}
    if rate:
        out.update(percentiles_ms(lat[10:]))
    else:
        out.update(
            {"fps": round((got - 1) / dt, 1) if dt else None, "MB_per_s": round(nbytes / dt / 1e6, 1) if dt else None}
        )
    return out


def _throughput(shape, dtype, n: int, real: bool) -> Sample:
    c = cpu_s()
    m = measure(shape, dtype, n, None, real, "r" if real else "b")
    mb = np.dtype(dtype).itemsize * float(np.prod(shape)) * m["frames"] / 1e6
    wall = mb / m["MB_per_s"] if m["MB_per_s"] else float("inf")
    # the receiver's CPU over the whole call (its start-up included: compare variants, not absolutes)
    return Sample(wall, cpu_s() - c, mb, {"lost": m["lost"]})


def run(args) -> dict:
    n = 200 if args.quick else 1000
    rounds = 2 if args.quick else 5
    res: dict = {}
    for name, (shape, dtype) in SIZES.items():
        got = interleave(
            {"real": partial(_throughput, shape, dtype, n, True), "raw": partial(_throughput, shape, dtype, n, False)},
            rounds,
        )
        real, raw = summary(got["real"]), summary(got["raw"])
        rate = 360.0 if shape == (1200, 1600) else 60.0  # 6 Basler cameras at 60 fps / one camera
        lat_real = measure(shape, dtype, int(rate * (1 if args.quick else 3)), rate, True, "rl")
        lat_raw = measure(shape, dtype, int(rate * (1 if args.quick else 3)), rate, False, "bl")
        ratio = paired_ratio(got["real"], got["raw"])
        res[name] = {
            "mestudio": {"MB_per_s": real["MB_per_s"]["median"], "lost": sum(s.extra["lost"] for s in got["real"])},
            "raw_pyzmq": {"MB_per_s": raw["MB_per_s"]["median"], "lost": sum(s.extra["lost"] for s in got["raw"])},
            "throughput_ratio": ratio["median"],
            "rounds": {"mestudio": real, "raw_pyzmq": raw, "throughput_ratio": ratio},
            f"latency_at_{rate:g}fps": {"mestudio": lat_real, "raw_pyzmq": lat_raw},
        }
    return res
