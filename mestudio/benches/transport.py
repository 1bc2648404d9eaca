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
- five rounds of ~1 GB: the median of five paired ratios moves with one round; then 16 shorter
  rounds (~250 MB each; now 128 of ~50 MB, below), the order balanced: each kind goes first equally often and mestudio
  measures first in half the rounds, raw in the other half;
- the receiver's allocator: each message buffer libzmq allocates is freed by the Python thread,
  and glibc's mmap threshold moves with the history of the process (which sizes ran before), so
  the same size was a fresh mapping (page faults) in one measurement and reused heap in another.
  The receiver keeps freed buffers, as the recorder it stands for does (stream/buffers.py).

Why single rounds still ranged 0.4-1.9 of their median, and what the bench does now:
- a measurement started a sender process (a second of imports and connection) to move 250 MB
  in 0.1 s: 16 rounds took most of two minutes, so each ratio rested on few, short samples
  seconds apart.  Each kind and variant now has one sender for the whole run, connected once,
  that sends a block of frames when asked (`BlockSender`): 128 rounds of ~50 MB blocks, a kind's
  two blocks milliseconds apart, in the same balanced order;
- the ratio follows the machine's state as well as the code: the raw path is bound by memory
  copies (the kernel's, through the socket), the wire format adds a fixed cost per message (header
  pack, the viewers' send, decode), so in a minute where copies run fast the same code gives a
  lower ratio.  The per-message cost was cut (stream/wire.py packs and checks a stream's header
  layout once), which narrows what the machine's state can move.
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


BLOCK_MB = 50.0  # about the same bytes for every frame size: 15-30 ms on this machine
ROUNDS = 128  # even: each variant goes first in half the rounds (--quick: QUICK_ROUNDS)
QUICK_ROUNDS = 6
WARMUP_ROUNDS = 4  # connection, first allocations, page faults: run and dropped


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
    shared_memory_mb: int = 0,
) -> None:
    """Send ``n`` frames, paced at ``rate`` (the latency part; the recorder bench sends them
    unpaced); ``cpu``: pin to it; ``shared_memory_mb``: the Publisher's ring."""
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


def measure(shape, dtype, n: int, rate: float, real: bool, tag: str, pin: bool = True) -> dict:
    """One sender process, ``n`` frames paced at ``rate``: latency percentiles, host stamp to decode."""
    from mestudio.stream import wire

    recv_cpu, send_cpu = cores() if pin else (None, None)
    before = os.sched_getaffinity(0) if recv_cpu is not None else None
    _pin(recv_cpu)
    ctx = zmq.Context()  # its I/O thread starts on the receiver's core
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    ep = f"ipc:///tmp/mestudio-bench-{tag}-{os.getpid()}"
    pull.bind(ep)
    p = mp.get_context("spawn").Process(
        target=_sender, args=(ep, ep + "-pub", shape, dtype, n, rate, real, send_cpu), daemon=True
    )
    p.start()
    lat, got = [], 0
    while got < n and pull.poll(10_000):
        parts = pull.recv_multipart(copy=False)
        now = time.monotonic_ns()
        if real:
            lat.append(now - wire.decode(parts).header.host_time_ns)
        else:
            lat.append(now - int.from_bytes(parts[0].bytes, "little"))
        got += 1
    p.join(10)
    ctx.destroy(linger=0)
    if before is not None:
        os.sched_setaffinity(0, before)
    return {"frames": got, "lost": n - got, "pinned": recv_cpu is not None, **percentiles_ms(lat[10:])}


def _block_sender(ctl_ep: str, endpoint: str, shape, dtype, real: bool, cpu: int | None) -> None:
    """Stays up for the whole bench: b"N" on ``ctl_ep`` sends N frames, b"cpu" answers this
    process's CPU seconds so far (its I/O thread's included), b"" ends it."""
    from mestudio.stream import wire
    from mestudio.stream.bus import Endpoints, Publisher

    _pin(cpu)
    ctx = zmq.Context()
    ctl = ctx.socket(zmq.PAIR)
    ctl.connect(ctl_ep)
    frames = [np.random.default_rng(i).integers(0, 255, shape).astype(dtype) for i in range(4)]
    if real:
        pub = Publisher(ctx, Endpoints(endpoint, "", "", "", {"bench": endpoint + "-pub"}), "bench", record_hwm=100)
    else:
        sock = ctx.socket(zmq.PUSH)
        sock.sndhwm = 100
        sock.connect(endpoint)
    i = 0
    while (cmd := ctl.recv()) != b"":
        if cmd == b"cpu":
            ctl.send(str(_process_cpu_s()).encode())
            continue
        for _ in range(int(cmd)):
            f = frames[i % 4]
            now = time.monotonic_ns()
            if real:
                pub.send(wire.frame_parts("bench", i, f, host_time_ns=now, pixel_format="mono8"))
            else:
                sock.send_multipart([now.to_bytes(8, "little"), memoryview(f).cast("B")], copy=False)
            i += 1
    if real:
        pub.close()
    ctx.destroy(linger=None)


class BlockSender:
    """One variant's sender process and the bench's end of it: ``block(n)`` times n frames."""

    def __init__(self, ctx: zmq.Context, shape, dtype, real: bool, tag: str, send_cpu: int | None) -> None:
        self.real = real
        self.frame_mb = np.dtype(dtype).itemsize * float(np.prod(shape)) / 1e6
        ep = f"ipc:///tmp/mestudio-bench-{tag}-{os.getpid()}"
        self.pull = ctx.socket(zmq.PULL)
        self.ctl = ctx.socket(zmq.PAIR)
        for sock, where in ((self.pull, ep), (self.ctl, ep + "-ctl")):
            sock.linger = 0
            sock.bind(where)
        self.proc = mp.get_context("spawn").Process(
            target=_block_sender, args=(ep + "-ctl", ep, shape, dtype, real, send_cpu), daemon=True
        )
        self.proc.start()  # (the senders start side by side; the first block waits for this one)
        self._sender_cpu: float | None = None

    def _ask_cpu(self) -> float:
        self.ctl.send(b"cpu")
        if not self.ctl.poll(60_000):
            raise RuntimeError("bench transport: a sender process did not start within 60 s")
        return float(self.ctl.recv())

    def block(self, n: int) -> Sample:
        """n frames; the clock (and the receiver's CPU) from the first frame's arrival to the last's."""
        from mestudio.stream import wire

        if self._sender_cpu is None:
            self._sender_cpu = self._ask_cpu()
        self.ctl.send(str(n).encode())
        got, nbytes, t0, c0 = 0, 0, 0.0, 0.0
        while got < n and self.pull.poll(10_000):
            parts = self.pull.recv_multipart(copy=False)
            size = wire.decode(parts).data.nbytes if self.real else len(parts[1].buffer)
            got += 1
            if got == 1:
                t0, c0 = time.perf_counter(), _process_cpu_s()
            else:
                nbytes += size
        wall, recv_cpu = time.perf_counter() - t0, _process_cpu_s() - c0
        sender_total = self._ask_cpu()  # every frame is in: its sends are done
        send_cpu = (sender_total - self._sender_cpu) * (n - 1) / n  # the timed share
        self._sender_cpu = sender_total
        mb = nbytes / 1e6 or 1e-9  # nothing timed (frames lost): 0 MB/s, not a division error
        cpu = {"receiver_cpu_ms_per_MB": 1000 * recv_cpu / mb, "sender_cpu_ms_per_MB": 1000 * send_cpu / mb}
        return Sample(wall if got == n else float("inf"), recv_cpu + send_cpu, mb, {"lost": n - got, **cpu})

    def close(self) -> None:
        self.ctl.send(b"")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
        self.pull.close()
        self.ctl.close()


def frames_per_block(shape, dtype, quick: bool = False) -> int:
    """About BLOCK_MB of frames (a fifth with --quick), never fewer than 8."""
    mb = np.dtype(dtype).itemsize * float(np.prod(shape)) / 1e6
    return max(8, int((BLOCK_MB / (5 if quick else 1)) / mb))


def _cpu(samples: list[Sample]) -> dict:
    return {k: spread([s.extra[k] for s in samples]) for k in ("receiver_cpu_ms_per_MB", "sender_cpu_ms_per_MB")}


def _rounds(quick: bool, rounds: int) -> dict[str, dict[str, list[Sample]]]:
    """Every kind's blocks of both variants, in the balanced order of ``schedule``, each kind and
    variant from its own sender process, after WARMUP_ROUNDS rounds that are dropped."""
    kinds = list(SIZES)
    n = {k: frames_per_block(*SIZES[k], quick) for k in kinds}
    recv_core, send_core = cores()
    before = os.sched_getaffinity(0) if recv_core is not None else None
    _pin(recv_core)
    ctx = zmq.Context()  # one I/O thread on the receiver's core, as the recorder has
    senders: dict[tuple[str, str], BlockSender] = {}
    try:
        for i, kind in enumerate(kinds):
            for variant in ("real", "raw"):
                senders[kind, variant] = BlockSender(ctx, *SIZES[kind], variant == "real", f"{variant}{i}", send_core)
        for _, kind, variant in schedule(kinds, WARMUP_ROUNDS):
            senders[kind, variant].block(n[kind])
        got: dict[str, dict[str, list[Sample]]] = {k: {"real": [], "raw": []} for k in kinds}
        for _, kind, variant in schedule(kinds, rounds):
            got[kind][variant].append(senders[kind, variant].block(n[kind]))
    finally:
        for sender in senders.values():
            sender.close()
        ctx.destroy(linger=0)
        if before is not None:
            os.sched_setaffinity(0, before)
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
        f"mestudio first in even rounds; one sender process per kind and variant for the whole run; "
        f"{WARMUP_ROUNDS} warm-up rounds dropped",
    }
    all_rounds = _rounds(args.quick, rounds)
    for name, (shape, dtype) in SIZES.items():
        n = frames_per_block(shape, dtype, args.quick)
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
            "frames_per_block": n,
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
