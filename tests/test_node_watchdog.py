"""A node stuck in a device call stops beating (so the supervisor restarts it) and logs where it is stuck."""

from __future__ import annotations

import logging
import signal
import threading

import zmq

from mestudio.config.schema import SessionConfig
from mestudio.stream.bus import Endpoints, wait_for
from mestudio.stream.node import NodeContext


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def driver_call_that_never_returns(release: threading.Event) -> None:
    release.wait()


def test_a_call_stuck_past_its_limit_silences_the_heartbeats_until_it_returns(tmp_path):
    cfg = SessionConfig.model_validate(
        {
            "devices": [{"name": "cam", "kind": "synthetic-camera", "width": 16, "height": 16}],
            "transport": {"heartbeat_s": 0.05, "heartbeat_timeout_s": 0.4},
        }
    )
    eps = Endpoints.plan("ipc", "127.0.0.1", 5550, ["cam"], key=str(tmp_path))
    log = logging.getLogger(f"watchdog-test-{id(tmp_path)}")
    handler = _Lines()
    log.addHandler(handler)
    ctx = NodeContext("cam", "device", cfg, tmp_path, eps, log=log)
    control = ctx.zmq.socket(zmq.PULL)  # stands in for the supervisor's control socket
    control.linger = 0
    control.bind(eps.control)
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    release = threading.Event()
    stuck = threading.Thread(target=lambda: _read(ctx, release), daemon=True)
    try:
        ctx.start_reporting()
        assert control.poll(30_000), "no heartbeat from a healthy node"
        stuck.start()
        # the log names the watched call and shows the stuck thread's stack, down to the driver call
        assert wait_for(lambda: handler.lines, 30), "nothing logged about the stuck call"
        assert "synthetic-camera read has not returned for" in handler.lines[0]
        assert "driver_call_that_never_returns" in handler.lines[0]
        while control.poll(0):  # what was sent before the limit passed
            control.recv_multipart()
        # silence while stuck: a loaded machine could only delay a beat, never make one appear
        assert not control.poll(int(10 * 1000 * cfg.transport.heartbeat_s))
        release.set()
        stuck.join(30)
        assert control.poll(30_000), "the heartbeats did not come back once the call returned"
        assert len(handler.lines) == 1  # reported once, not once per missed beat
    finally:
        release.set()
        ctx.close()
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])
        log.removeHandler(handler)


def _read(ctx: NodeContext, release: threading.Event) -> None:
    with ctx.watched("synthetic-camera read"):
        driver_call_that_never_returns(release)
