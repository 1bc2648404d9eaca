"""The analyzer node's live path over real ZeroMQ sockets: every frame analysed, gaps reported."""

from __future__ import annotations

import threading
import time

import pytest
import zmq

from mestudio.config.schema import SessionConfig
from mestudio.stream import wire
from mestudio.stream.bus import Endpoints
from mestudio.stream.node import NodeContext
from tests.analysis_fixtures import face_frames


@pytest.mark.slow
def test_node_analyses_every_frame_and_reports_a_gap(tmp_path):
    cfg = SessionConfig.model_validate(
        {
            "devices": [
                {"name": "face", "kind": "synthetic-camera", "width": 640, "height": 480, "fps": 60, "source": "face"}
            ],
            "analyzer": {"enabled": True},
        }
    )
    eps = Endpoints.plan("ipc", "127.0.0.1", 5550, ["face", "analyzer"], key=str(tmp_path))
    ctx = NodeContext("analyzer", "analyzer", cfg, tmp_path, eps)
    recorder = ctx.zmq.socket(zmq.PULL)  # stands in for the recorder
    recorder.linger = 0
    recorder.bind(eps.recorder)
    # reports when the node's pushing socket has connected: what it sends before that can be dropped
    connected = recorder.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    camera = ctx.zmq.socket(zmq.XPUB)  # a PUB that reports each subscription it receives
    camera.linger = 0
    camera.sndhwm = 1000
    camera.bind(eps.pubs["face"])
    from mestudio.analysis.node import run

    node = threading.Thread(target=run, args=(ctx,), daemon=True)
    node.start()
    try:
        assert camera.poll(60_000), "the analyzer node never subscribed to the face stream"
        assert camera.recv() == b"\x01face"  # subscribed: from now on every frame reaches its queue
        assert connected.poll(60_000), "the analyzer node never connected to the recorder"
        recorder.disable_monitor()
        frames = face_frames(seconds=1.0)
        sent = [i for i in range(len(frames)) if not 20 <= i < 30]  # ten frames never sent
        for i in sent:  # a burst, faster than real time: the node's queue absorbs it
            wire.send(camera, wire.frame_parts("face", i, frames[i], host_time_ns=int(i * 1e9 / 60)))
        bodies = []
        end = time.monotonic() + 60
        while time.monotonic() < end and recorder.poll(3000):  # until the node has gone quiet
            bodies.append(wire.recv(recorder).data)
        ctx.stop.set()
        node.join(timeout=20)
        assert not node.is_alive()
        while recorder.poll(500):
            bodies.append(wire.recv(recorder).data)
    finally:
        ctx.stop.set()
        camera.close()
        connected.close()
        recorder.close()
        ctx.zmq.destroy(linger=0)
    types = [b["type"] for b in bodies]
    assert types[0] == "start" and bodies[0]["first_seq"] == 0 and types[-1] == "stop"
    gaps = [b for b in bodies if b["type"] == "gap"]
    assert gaps == [{"type": "gap", "from_seq": 20, "to_seq": 29, "missing": 10, "overflow_total": 0}]
    stop = bodies[-1]
    assert stop["analysed"] == stop["received"] == len(sent) and stop["overflow"] == 0
