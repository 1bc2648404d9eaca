"""What CURVE costs on tcp: a session's authenticated, encrypted path vs plain tcp, same run.

Real path: a producer's Publisher on Endpoints with a keys folder (CURVE client, PUSH) to a
recorder-like PULL bound through ``Endpoints.bind`` (CURVE server + ZAP allow-list), in two
processes over loopback tcp.  Baseline, same run, same sizes: raw pyzmq zero-copy [header, buffer]
PUSH/PULL over plain loopback tcp.  The ratio says which streams one core can carry encrypted.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from mestudio.benches._procs import spawn

HELP = "CURVE-encrypted tcp (session path with ZAP) vs plain tcp raw pyzmq: throughput per frame size"

SIZES = {
    "basler 1600x1200 mono8": ((1200, 1600), np.uint8),
    "face 640x480 mono8": ((480, 640), np.uint8),
    "kinect 640x480 depth16": ((480, 640), np.uint16),
}


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _sender(endpoint: str, keys: str, shape, dtype, n: int) -> None:
    from mestudio.stream import wire
    from mestudio.stream.bus import Endpoints, Publisher

    ctx = zmq.Context()
    frames = [np.random.default_rng(i).integers(0, 255, shape).astype(dtype) for i in range(4)]
    if keys:
        eps = Endpoints(endpoint, "", "", "", {"bench": f"tcp://127.0.0.1:{_free_port()}"}, keys=keys)
        pub = Publisher(ctx, eps, "bench", record_hwm=100)
        for i in range(n):
            pub.send(wire.frame_parts("bench", i, frames[i % 4], host_time_ns=time.monotonic_ns()))
        pub.close()
        from mestudio.stream.curve import stop_authenticator

        stop_authenticator(ctx)
    else:
        sock = ctx.socket(zmq.PUSH)
        sock.sndhwm = 100
        sock.connect(endpoint)
        for i in range(n):
            sock.send_multipart([i.to_bytes(8, "little"), memoryview(frames[i % 4]).cast("B")], copy=False)
        sock.close(linger=-1)
    ctx.destroy(linger=None)


def measure(shape, dtype, n: int, keys: str) -> dict:
    from mestudio.stream.bus import Endpoints
    from mestudio.stream.curve import stop_authenticator

    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    ep = f"tcp://127.0.0.1:{_free_port()}"
    if keys:
        Endpoints(ep, "", "", "", keys=keys).bind(ctx, pull, ep)
    else:
        pull.bind(ep)
    p = spawn(_sender, ep, keys, shape, dtype, n)
    got, nbytes, t_first = 0, 0, None
    while got < n and pull.poll(20_000):
        parts = pull.recv_multipart(copy=False)
        t_first = t_first or time.perf_counter()
        nbytes += len(parts[-1].buffer)
        got += 1
    dt = time.perf_counter() - (t_first or time.perf_counter())
    p.join(20)
    stop_authenticator(ctx)
    ctx.destroy(linger=0)
    return {
        "frames": got,
        "lost": n - got,
        "fps": round((got - 1) / dt, 1) if dt else None,
        "MB_per_s": round(nbytes / dt / 1e6, 1) if dt else None,
    }


def run(args) -> dict:
    from mestudio.stream.curve import create_keys

    n = 100 if args.quick else 500
    res: dict = {}
    with tempfile.TemporaryDirectory() as d:
        keys = str(Path(d) / "keys")
        create_keys(keys)
        for name, (shape, dtype) in SIZES.items():
            curve = measure(shape, dtype, n, keys)
            plain = measure(shape, dtype, n, "")
            res[name] = {
                "curve_session_path": curve,
                "plain_tcp_raw_pyzmq": plain,
                "throughput_ratio": round(curve["MB_per_s"] / plain["MB_per_s"], 3) if plain["MB_per_s"] else None,
            }
    return res
