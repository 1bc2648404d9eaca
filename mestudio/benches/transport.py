"""Throughput and latency of the real wire path between two processes, against raw pyzmq.

Both variants run interleaved over several rounds; the figures are medians with their spread,
the ratio is taken inside each round (a raw baseline that moved between runs moved its ratio).
Real path: wire.frame_parts + Publisher (PUSH to a recorder-like PULL, plus the viewers' PUB)
and wire.recv/decode on the other side.  Baseline, same run, same sizes: raw pyzmq zero-copy
[small header, buffer] over PUSH/PULL ipc.  Latency is measured paced at the rig's rate.

What made two runs disagree (the raw baseline moved 3616 vs 1327 MB/s) and what keeps them
together:
- where the scheduler put the two processes: sender and receiver (each with its zmq I/O
  thread) sharing one core or on two moves ipc throughput 2-3x.  Each side is pinned to a core
  of its own (os.sched_setaffinity, before its zmq context starts its I/O thread), the same
  two for both variants;
- a fixed frame count made the small frames' measurement a tenth of a second long: each
  measurement now moves about the same bytes (~1 GB; 200 MB with --quick), and its clock
  starts after a tenth of its frames (connection, first allocations, page faults are not timed);
- a warm-up round of both variants is run and dropped;
- the figure is the median over the rounds with its spread, and the best round of each
  variant too (noise on a shared machine only ever slows a round), with CPU per MB of both
  processes over the timed part (CPU does not depend on who else is running).

Why rgb8 and depth16 still moved 15-21 % between two quiet runs, and what the bench does about it:
- each kind's rounds ran as one block (five rounds of 1600x1200, then five of 640x480, ...), so a
  slow or fast minute fell on one kind's whole block and moved that kind's median alone; now
  every round measures every kind (`schedule`): a kind's rounds spread over the whole run;
- five rounds of ~1 GB: the median of five paired ratios moves with one round; now 16 shorter
  rounds (~250 MB each), the order balanced: each kind goes first equally often and mestudio
  measures first in half the rounds, raw in the other half;
- the receiver's allocator: each message buffer libzmq allocates is freed by the Python thread,
  and glibc's mmap threshold moves with the history of the process (which sizes ran before), so
  the same size was a fresh mapping (page faults) in one measurement and reused heap in another.
  The receiver keeps freed buffers, as the recorder it stands for does (stream/buffers.py).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time

import numpy as np
import zmq

from mestudio.benches._procs import percentiles_ms
from mestudio.benches._rounds import Sample, paired_ratio, spread, summary

HELP = "wire-format transport between processes vs raw pyzmq zero-copy (throughput, latency)"

SIZES = {
    "basler 1600x1200 mono8": ((1200, 1600), np.uint8),
    "face 640x480 mono8": ((480, 640), np.uint8),
    "kinect 640x480 rgb8": ((480, 640, 3), np.uint8),
    "kinect 640x480 depth16": ((480, 640), np.uint16),
}


MB_PER_MEASUREMENT = 250.0  # about the same bytes for every frame size: ~0.1-0.3 s on this machine
ROUNDS = 16  # even: each variant goes first in half the rounds (--quick: QUICK_ROUNDS)
QUICK_ROUNDS = 2
WARMUP_FRACTION = 0.1  # frames received before the clock starts


def schedule(kinds: list[str], rounds: int) -> list[tuple[int, str, str]]:
    """(round, kind, variant) in the order they run.  Every round measures every kind, the
    kinds' order rotated from round to round; a kind's two variants run back to back (its ratio
    is taken seconds apart), mestudio first in even rounds and raw first in odd ones."""
    out = []
    for r in range(rounds):
        k = r % len(kinds)
        for kind in kinds[k:] + kinds[:k]:
            for variant in ("real", "raw") if r % 2 == 0 else ("raw", "real"):
                out.append((r, kind, variant))
    return out


def cores() -> tuple[int | None, int | None]:
    """(receiver core, sender core): two different cores this process may run on, else no pinning."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None, None
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else (None, None)


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # threads started from now on (zmq's I/O thread) share it


def _process_cpu_s() -> float:
    """CPU seconds of this process, every thread (zmq's I/O thread included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _sender(
    endpoint: str,
    viewer_ep: str,
    shape,
    dtype,
    n: int,
    rate: float | None,
    real: bool,
    cpu: int | None = None,
    out=None,
    shared_memory_mb: int = 0,
) -> None:
    """Send ``n`` frames (the recorder bench uses it too); ``cpu``: pin to it; ``out``: a queue
    that gets the CPU seconds the sends took; ``shared_memory_mb``: the Publisher's ring."""
    from mestudio.stream import wire
    from mestudio.stream.bus import Endpoints, Publisher

    _pin(cpu)
    ctx = zmq.Context()
    frames = [np.random.default_rng(i).integers(0, 255, shape).astype(dtype) for i in range(4)]
    if real:
        eps = Endpoints(endpoint, "", "", "", {"bench": viewer_ep})
        pub = Publisher(ctx, eps, "bench", record_hwm=100, shared_memory_mb=shared_memory_mb)
        send = lambda parts: pub.send(parts)  # noqa: E731
    else:
        sock = ctx.socket(zmq.PUSH)
        sock.sndhwm = 100
        sock.connect(endpoint)
        send = lambda parts: sock.send_multipart(parts, copy=False) is None  # noqa: E731  # True: queued
    period = 1 / rate if rate else 0
    t0 = time.perf_counter()
    c0 = _process_cpu_s()
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
    if out is not None:
        out.put(_process_cpu_s() - c0)  # the sender's CPU (its I/O thread too) over its sends
    if real:
        pub.close()
    ctx.destroy(linger=None)


def measure(shape, dtype, n: int, rate: float | None, real: bool, tag: str, pin: bool = True) -> dict:
    """One sender process, ``n`` frames; throughput (timed from the WARMUP_FRACTION-th frame on)
    with both processes' CPU over that part, or latency percentiles when paced at ``rate``."""
    from mestudio.stream import wire

    recv_cpu, send_cpu = cores() if pin else (None, None)
    before = os.sched_getaffinity(0) if recv_cpu is not None else None
    _pin(recv_cpu)
    ctx = zmq.Context()  # its I/O thread starts on the receiver's core
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    ep = f"ipc:///tmp/mestudio-bench-{tag}-{os.getpid()}"
    pull.bind(ep)
    spawn = mp.get_context("spawn")
    cpu_out = spawn.SimpleQueue()
    args = (ep, ep + "-pub", shape, dtype, n, rate, real, send_cpu, cpu_out)
    p = spawn.Process(target=_sender, args=args, daemon=True)
    p.start()
    lat, got, nbytes, t_first, c_first = [], 0, 0, None, 0.0
    start_at = max(1, int(n * WARMUP_FRACTION))
    while got < n and pull.poll(10_000):
        parts = pull.recv_multipart(copy=False)
        now = time.monotonic_ns()
        if real:
            m = wire.decode(parts)
            lat.append(now - m.header.host_time_ns)
            size = m.data.nbytes
        else:
            lat.append(now - int.from_bytes(parts[0].bytes, "little"))
            size = len(parts[1].buffer)
        got += 1
        if got == start_at:  # the clock starts once this frame is in: what follows is timed
            t_first, c_first = time.perf_counter(), _process_cpu_s()
        elif got > start_at:
            nbytes += size
    dt = time.perf_counter() - t_first if t_first is not None else 0.0
    recv_cpu_s = _process_cpu_s() - c_first
    sender_cpu_s = cpu_out.get() if got == n else float("nan")
    p.join(10)
    ctx.destroy(linger=0)
    if before is not None:
        os.sched_setaffinity(0, before)
    out: dict = {"frames": got, "lost": n - got, "pinned": recv_cpu is not None}
    if rate:
        out.update(percentiles_ms(lat[10:]))
    else:
        timed = got - start_at
        out.update(
            {
                "fps": round(timed / dt, 1) if dt else None,
                "MB_per_s": round(nbytes / dt / 1e6, 1) if dt else None,
                "timed_mb": nbytes / 1e6,
                "receiver_cpu_s": recv_cpu_s,
                # the sender's CPU covers every frame; scaled to the timed share
                "sender_cpu_s": sender_cpu_s * timed / n,
            }
        )
    return out


def _throughput(shape, dtype, n: int, real: bool) -> Sample:
    m = measure(shape, dtype, n, None, real, "r" if real else "b")
    mb = m["timed_mb"] or 1e-9  # nothing timed (every frame lost): 0 MB/s, not a division error
    wall = mb / m["MB_per_s"] if m["MB_per_s"] else float("inf")
    cpu = {
        "receiver_cpu_ms_per_MB": 1000 * m["receiver_cpu_s"] / mb,
        "sender_cpu_ms_per_MB": 1000 * m["sender_cpu_s"] / mb,
    }
    return Sample(wall, m["receiver_cpu_s"] + m["sender_cpu_s"], mb, {"lost": m["lost"], **cpu})


def frames_per_measurement(shape, dtype, quick: bool) -> int:
    """About MB_PER_MEASUREMENT of frames (a fifth with --quick), never fewer than 100."""
    mb = np.dtype(dtype).itemsize * float(np.prod(shape)) / 1e6
    return max(100, int((MB_PER_MEASUREMENT / (5 if quick else 1)) / mb))


def _cpu(samples: list[Sample]) -> dict:
    return {k: spread([s.extra[k] for s in samples]) for k in ("receiver_cpu_ms_per_MB", "sender_cpu_ms_per_MB")}


def _rounds(quick: bool, rounds: int) -> dict[str, dict[str, list[Sample]]]:
    """Every kind's samples of both variants, measured in the balanced order of ``schedule``,
    after one warm-up round of every kind and variant (imports, page cache, first
    allocations) that is dropped."""
    kinds = list(SIZES)
    n = {k: frames_per_measurement(*SIZES[k], quick) for k in kinds}
    for _, kind, variant in schedule(kinds, 1):
        _throughput(*SIZES[kind], n[kind], variant == "real")
    got: dict[str, dict[str, list[Sample]]] = {k: {"real": [], "raw": []} for k in kinds}
    for _, kind, variant in schedule(kinds, rounds):
        got[kind][variant].append(_throughput(*SIZES[kind], n[kind], variant == "real"))
    return got


def run(args) -> dict:
    from mestudio.stream.buffers import keep_freed_buffers

    rounds = QUICK_ROUNDS if args.quick else ROUNDS
    keep_freed_buffers()  # the receiver stands for the recorder, which does this (module docstring)
    recv_core, send_core = cores()
    res: dict = {
        "pinned_cores": {"receiver": recv_core, "sender": send_core}
        if recv_core is not None
        else "not pinned (one core allowed)",
        "rounds": rounds,
        "schedule": "every round measures every kind (order rotated), mestudio and raw back to back, "
        "mestudio first in even rounds; one warm-up round dropped",
    }
    all_rounds = _rounds(args.quick, rounds)
    for name, (shape, dtype) in SIZES.items():
        n = frames_per_measurement(shape, dtype, args.quick)
        got = all_rounds[name]
        real, raw = summary(got["real"]), summary(got["raw"])
        real["cpu_split"], raw["cpu_split"] = _cpu(got["real"]), _cpu(got["raw"])
        rate = 360.0 if shape == (1200, 1600) else 60.0  # 6 Basler cameras at 60 fps / one camera
        lat_real = measure(shape, dtype, int(rate * (1 if args.quick else 3)), rate, True, "rl")
        lat_raw = measure(shape, dtype, int(rate * (1 if args.quick else 3)), rate, False, "bl")
        ratio = paired_ratio(got["real"], got["raw"])
        # in the order measured, to read a run's drift (a slow minute) off it
        ratio["per_round"] = [round(a.mb_per_s / b.mb_per_s, 3) for a, b in zip(got["real"], got["raw"]) if b.mb_per_s]
        res[name] = {
            "frames_per_measurement": n,
            "mestudio": {
                "MB_per_s": real["MB_per_s"]["median"],
                "best_MB_per_s": real["MB_per_s"]["max"],
                "cpu_ms_per_MB": real["cpu_ms_per_MB"]["median"],
                "lost": sum(s.extra["lost"] for s in got["real"]),
            },
            "raw_pyzmq": {
                "MB_per_s": raw["MB_per_s"]["median"],
                "best_MB_per_s": raw["MB_per_s"]["max"],
                "cpu_ms_per_MB": raw["cpu_ms_per_MB"]["median"],
                "lost": sum(s.extra["lost"] for s in got["raw"]),
            },
            "throughput_ratio": ratio["median"],
            # (max - min) / median of the per-round ratios: how far one round may stray
            "spread": ratio["spread"],
            "best_throughput_ratio": round(real["MB_per_s"]["max"] / raw["MB_per_s"]["max"], 3)
            if raw["MB_per_s"]["max"]
            else None,
            # both processes' CPU per MB, mestudio / raw: the code's cost, whoever else runs
            "cpu_per_mb_ratio": round(real["cpu_ms_per_MB"]["median"] / raw["cpu_ms_per_MB"]["median"], 3)
            if raw["cpu_ms_per_MB"]["median"]
            else None,
            "rounds": {"mestudio": real, "raw_pyzmq": raw, "throughput_ratio": ratio},
            f"latency_at_{rate:g}fps": {"mestudio": lat_real, "raw_pyzmq": lat_raw},
        }
    return res
