"""A large frame goes to the recorder and to the viewers from one zero-copy buffer, intact on both.

Real sockets: a recorder-like PULL and a viewer SUB read back what one Publisher sent, and the
bytes are compared with the arrays the test made (not with what the publisher thinks it sent).
"""

from __future__ import annotations

import numpy as np
import zmq

from mestudio.stream import wire
from mestudio.stream.bus import Endpoints, Publisher, wait_for


def test_recorder_and_viewer_receive_the_same_frames_small_and_large(tmp_path, zctx):
    eps = Endpoints.plan("ipc", "", 0, ["cam"], key=str(tmp_path))
    pull = zctx.socket(zmq.PULL)
    pull.linger = 0
    pull.bind(eps.recorder)
    pub = Publisher(zctx, eps, "cam")
    sub = zctx.socket(zmq.SUB)
    sub.linger = 0
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(eps.pubs["cam"])
    rng = np.random.default_rng(7)
    # 1600x1200 (over pyzmq's copy threshold: shared zero-copy buffer) and 64x48 (copied)
    frames = [rng.integers(0, 255, (1200, 1600), dtype=np.uint8), rng.integers(0, 255, (48, 64), dtype=np.uint8)]
    try:
        # a viewer joins late (PUB/SUB): publish probes until it hears one, then the real frames
        probe = np.zeros((48, 64), np.uint8)
        assert wait_for(
            lambda: pub.send(wire.frame_parts("cam", 0, probe, host_time_ns=wire.now_ns())) and sub.poll(20), 10
        )
        for i, f in enumerate(frames * 3):
            assert pub.send(wire.frame_parts("cam", 100 + i, f, host_time_ns=wire.now_ns(), pixel_format="mono8"))
        for sock in (pull, sub):
            got = []
            while len(got) < 6 and sock.poll(5000):
                m = wire.recv(sock)
                if m.header.seq >= 100:  # the probes (seq 0) are not what is checked
                    got.append(m)
            assert [m.header.seq for m in got] == list(range(100, 106))
            for i, m in enumerate(got):
                assert np.array_equal(m.data, frames[i % 2])
        assert pub.sent >= 7 and pub.dropped == 0
    finally:
        pub.close()
        sub.close()
        pull.close()
        eps.remove_ipc_files()
