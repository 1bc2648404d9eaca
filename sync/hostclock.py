"""Offsets between host clocks over ZeroMQ, NTP style, so devices on several hosts share a timeline.

A ``TimeServer`` answers every request with the moments it received and answered it on its host
monotonic clock.  ``estimate_offset`` sends ``probes`` requests and, per probe, takes

    offset = ((t1 - t0) + (t2 - t3)) / 2      round trip = (t3 - t0) - (t2 - t1)

(t0/t3 client send/receive, t1/t2 server receive/send).  Only the probes with the lowest round
trips are kept (their delay is the most symmetric); the median of their offsets is the estimate
and half the lowest round trip bounds its error.  Add the offset to the server's times to get
the client's clock: ``server_time + offset_ns`` is the same instant on the client's clock.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import zmq

from mestudio.sync.errors import HostClockError

_REQ = struct.Struct("<q")
_REP = struct.Struct("<qqq")  # echo of t0, t1, t2


@dataclass(frozen=True)
class HostOffset:
    endpoint: str
    offset_ns: int  # client clock - server clock
    rtt_ns: int  # lowest round trip among the probes
    probes: int  # answered probes
    kept: int  # probes used for the estimate

    @property
    def error_bound_ns(self) -> int:
        return self.rtt_ns // 2

    def to_json(self) -> dict:
        return {
            "host": self.endpoint,
            "offset_ns": self.offset_ns,
            "rtt_ns": self.rtt_ns,
            "error_bound_ns": self.error_bound_ns,
            "probes": self.probes,
            "kept": self.kept,
        }


class TimeServer:
    """Answers time probes on ``endpoint`` from a background thread until ``close()``."""

    def __init__(
        self, ctx: zmq.Context, endpoint: str, clock: Callable[[], int] = time.monotonic_ns, endpoints=None
    ) -> None:
        self.clock = clock
        self._sock = ctx.socket(zmq.ROUTER)
        self._sock.linger = 0
        if endpoints is not None:  # a session's Endpoints: a CURVE server on tcp (remote hosts)
            endpoints.bind(ctx, self._sock, endpoint)
        else:
            self._sock.bind(endpoint)
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sync-time-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._sock.poll(100):
                    continue
                parts = self._sock.recv_multipart()
                t1 = self.clock()
                if len(parts) < 2 or len(parts[-1]) != _REQ.size:
                    continue  # not a time probe: ignore it rather than die
                (t0,) = _REQ.unpack(parts[-1])
                self._sock.send_multipart(parts[:-1] + [_REP.pack(t0, t1, self.clock())])
                self.answered += 1
        finally:
            self._sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def estimate_offset(
    ctx: zmq.Context,
    endpoint: str,
    probes: int = 16,
    keep: float = 0.25,
    timeout_s: float = 1.0,
    clock: Callable[[], int] = time.monotonic_ns,
    endpoints=None,
) -> HostOffset:
    """Probe a TimeServer; raises HostClockError when it does not answer within ``timeout_s``.

    ``endpoints`` (a session's Endpoints) makes the probe a CURVE client, for a session's own
    time server on tcp."""
    # DEALER, not REQ: a lost answer must not wedge the socket; the echoed t0 pairs the replies
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    if endpoints is not None:
        endpoints.connect(sock, endpoint)
    else:
        sock.connect(endpoint)
    rows: list = []
    try:
        for _ in range(probes):
            t0 = clock()
            sock.send_multipart([b"", _REQ.pack(t0)])
            if not sock.poll(int(timeout_s * 1000)):
                if not rows:
                    raise HostClockError(
                        f"no answer from the time server at {endpoint} within {timeout_s} s: "
                        "check that its session runs with [sync] time_server set and the port is open"
                    )
                continue
            reply = sock.recv_multipart()[-1]
            t3 = clock()
            if len(reply) != _REP.size:
                continue
            e0, t1, t2 = _REP.unpack(reply)
            if e0 != t0:
                continue
            rows.append((((t1 - t0) + (t2 - t3)) / 2, (t3 - t0) - (t2 - t1)))
    finally:
        sock.close()
    arr = np.array(rows, np.float64)
    order = np.argsort(arr[:, 1])
    k = max(1, int(round(len(arr) * keep)))
    best = arr[order[:k]]
    # server = client + o  =>  client - server = -o
    return HostOffset(endpoint, int(round(-np.median(best[:, 0]))), int(best[0, 1]), len(arr), k)
