"""NTP-like host clock offsets over real ZeroMQ sockets."""

from __future__ import annotations

import time

import pytest

from mestudio.sync.errors import HostClockError
from mestudio.sync.hostclock import TimeServer, estimate_offset


def test_offset_of_a_shifted_clock_is_recovered_within_its_round_trip(zctx):
    shift = 3_600_123_456_789  # the other host booted an hour earlier
    server = TimeServer(zctx, "tcp://127.0.0.1:*", clock=lambda: time.monotonic_ns() + shift)
    try:
        est = estimate_offset(zctx, server.endpoint, probes=20)
    finally:
        server.close()
    assert est.probes == 20 and est.kept == 5
    assert abs(est.offset_ns + shift) <= max(est.error_bound_ns, 50_000)
    assert server.answered >= 20
    assert est.to_json()["host"] == server.endpoint


def test_no_time_server_is_a_clear_timeout(zctx):
    with pytest.raises(HostClockError, match="no answer from the time server.*time_server"):
        estimate_offset(zctx, "tcp://127.0.0.1:1", probes=2, timeout_s=0.2)
    assert issubclass(HostClockError, TimeoutError)


def test_garbage_requests_do_not_stop_the_server(zctx):
    import zmq

    server = TimeServer(zctx, "tcp://127.0.0.1:*")
    try:
        s = zctx.socket(zmq.DEALER)
        s.linger = 0
        s.connect(server.endpoint)
        s.send_multipart([b"", b"not a probe"])
        est = estimate_offset(zctx, server.endpoint, probes=4)
        s.close()
    finally:
        server.close()
    assert abs(est.offset_ns) < 1_000_000
