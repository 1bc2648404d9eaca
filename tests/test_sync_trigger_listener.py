"""capture/node.py's subscription to the sync node's `trigger/<device>` events (real ZeroMQ)."""

from __future__ import annotations

import pytest
import zmq

from mestudio.capture.errors import DeviceStateError
from mestudio.capture.node import start_trigger_listener
from mestudio.capture.synthetic import SyntheticCamera
from mestudio.config.schema import SessionConfig
from mestudio.stream import wire
from mestudio.stream.bus import Endpoints, wait_for
from mestudio.stream.node import NodeContext


class TriggerableCamera(SyntheticCamera):
    """The synthetic camera plus a software trigger that counts (what a triggered backend adds)."""

    fired = 0

    def software_trigger(self) -> None:
        self.fired += 1


def _ctx(tmp_path, sync_enabled=True):
    cfg = SessionConfig.model_validate(
        {
            "devices": [{"name": "cam", "kind": "synthetic-camera", "width": 16, "height": 16}],
            "sync": {"enabled": sync_enabled},
        }
    )
    ep = Endpoints.plan("ipc", "127.0.0.1", 5550, ["sync", "cam"], key=str(tmp_path))
    return NodeContext("cam", "device", cfg, tmp_path, ep)


def _spec(trigger="software"):
    class Spec:  # the device section as the listener reads it: name + trigger
        name = "cam"
        kind = "synthetic-camera"
        width = height = 16
        fps = 60.0
        pixel_format = "mono8"
        source = "pattern"

    Spec.trigger = trigger
    Spec.software_triggered = trigger == "software"
    return Spec


def test_trigger_events_fire_the_device(tmp_path):
    ctx = _ctx(tmp_path)
    dev = TriggerableCamera(_spec())
    # the sync node's PUB, as an XPUB: it reports the listener's subscription, so nothing is sent before it
    pub = ctx.zmq.socket(zmq.XPUB)
    pub.linger = 0
    pub.bind(ctx.endpoints.pubs["sync"])
    try:
        with dev:
            t = start_trigger_listener(ctx, dev, _spec())
            assert t is not None
            assert pub.poll(30_000) and pub.recv() == b"\x01trigger/cam"
            for n in range(20):
                body = {"tick": n, "sample": n * 800}
                wire.send(pub, wire.json_parts(wire.Kind.EVENT, "sync", n, body, topic="trigger/cam"))
                wire.send(pub, wire.json_parts(wire.Kind.EVENT, "sync", n, {"tick": n}, topic="trigger/camera2"))
            assert wait_for(lambda: dev.fired == 20, 30.0), dev.fired
            ctx.stop.set()
            t.join(10)
            assert not t.is_alive()
    finally:
        pub.close()
        ctx.zmq.destroy(linger=0)
    assert dev.fired == 20  # trigger/camera2 is another device's topic


def test_no_listener_without_sync_or_software_trigger(tmp_path):
    ctx = _ctx(tmp_path, sync_enabled=False)
    try:
        assert start_trigger_listener(ctx, TriggerableCamera(_spec()), _spec()) is None
        ctx2 = _ctx(tmp_path / "b")
        assert start_trigger_listener(ctx2, TriggerableCamera(_spec()), _spec("free-run")) is None
        ctx2.zmq.destroy(linger=0)
    finally:
        ctx.zmq.destroy(linger=0)


def test_a_backend_without_software_trigger_is_a_clear_error(tmp_path):
    ctx = _ctx(tmp_path)
    try:
        with pytest.raises(DeviceStateError, match="no software_trigger.*free-run"):
            start_trigger_listener(ctx, SyntheticCamera(_spec()), _spec())
    finally:
        ctx.zmq.destroy(linger=0)
