"""Replay republishes a recording on the same wire: every frame, same headers, same content."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import zmq

from mestudio.capture.pattern import stamp
from mestudio.stream import wire
from mestudio.stream.errors import StreamError
from mestudio.stream.live import list_live
from mestudio.stream.replayer import LOSSLESS, LOSSY, Replayer
from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_writer import SessionWriter
from tests.conftest import ROOT


@pytest.fixture
def session(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    write_json_atomic(root / "manifest.json", {"format": "mestudio-session", "status": "complete", "t0_host_ns": 0})
    (root / "recorder.json").write_text("{}")
    w = SessionWriter(root)
    a = w.stream("cam", "|u1", (12, 16), "mono8")
    b = w.stream("mic", "<i2", (800, 1), "s16le")
    for i in range(60):  # 1 s of a 60 fps camera and a 60 Hz audio block stream, interleaved
        a.append(
            i,
            i * 10,
            1_000_000_000 + i * 16_666_667,
            memoryview(stamp(np.full((12, 16), i % 250, np.uint8), i)).cast("B"),
        )
        b.append(i, None, 1_000_000_000 + i * 16_666_667 + 5, memoryview(np.full((800, 1), i, np.int16)).cast("B"))
    w.event(
        {
            "topic": "markers/elicit",
            "kind": "event",
            "stream_id": "elicit",
            "seq": 0,
            "host_time_ns": 1_500_000_000,
            "device_time_ns": None,
            "body": {"clip": "c1"},
        }
    )
    w.close()
    return root


def _collect(sub, stop_topic="end/replay", timeout_ms=10_000):
    got = []
    while sub.poll(timeout_ms):
        m = wire.recv(sub)
        if m.topic == stop_topic:
            break
        got.append((m.topic, m.header, None if m.header.kind != wire.Kind.FRAME else m.data.copy(), m.data))
    return got


def test_lossless_replay_delivers_everything_in_order(session, zctx):
    rep = Replayer(session, speed=None)
    sub = zctx.socket(zmq.SUB)
    sub.linger = 0
    sub.subscribe(b"")
    sub.connect(rep.endpoints.pubs[LOSSLESS])
    try:
        rep.wait_for_readers(1, timeout_s=10)
        t = threading.Thread(target=rep.run)
        t.start()
        got = _collect(sub)
        t.join(10)
    finally:
        rep.close()
        rep.endpoints.remove_ipc_files()
    frames = [g for g in got if g[1].kind == wire.Kind.FRAME]
    assert len(frames) == 120
    hosts = [g[1].host_time_ns for g in got]
    assert hosts == sorted(hosts)
    cams = [g for g in frames if g[0] == "cam"]
    assert [g[1].seq for g in cams] == list(range(60))
    assert cams[7][1].device_time_ns == 70 and cams[7][2][5, 5] == 7
    mic = [g for g in frames if g[0] == "mic"]
    assert mic[3][1].device_time_ns is None and mic[3][2].dtype == np.int16 and mic[3][2][0, 0] == 3
    markers = [g for g in got if g[0] == "markers/elicit"]
    assert len(markers) == 1 and markers[0][3] == {"clip": "c1"}


def test_paced_replay_keeps_the_recorded_pace(session, zctx):
    import time

    rep = Replayer(session, speed=2.0)
    sub = zctx.socket(zmq.SUB)
    sub.linger = 0
    sub.subscribe(b"cam")
    sub.connect(rep.endpoints.pubs[LOSSY])
    try:
        t0 = time.monotonic()
        rep.run()
        took = time.monotonic() - t0
    finally:
        rep.close()
        rep.endpoints.remove_ipc_files()
    # ~1 s recorded at 2x: a paced replay never runs ahead of its pace (a loaded machine only slows it)
    assert took >= 0.4


def test_bad_speed_and_not_a_session(tmp_path, session):
    with pytest.raises(StreamError, match="speed must be positive"):
        Replayer(session, speed=0)
    r = subprocess.run(
        [sys.executable, "-m", "mestudio", "replay", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 2 and "no such session folder" in r.stderr


def test_replay_command_announces_itself_and_serves_a_lossless_reader(session, zctx, _live_dir):
    import os

    env = dict(os.environ, MESTUDIO_LIVE_DIR=str(_live_dir))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mestudio", "replay", str(session), "--max"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        import time

        end = time.monotonic() + 30
        while not list_live() and time.monotonic() < end:
            time.sleep(0.05)
        entry = list_live()[0]
        assert entry.kind == "replay" and entry.session_dir == str(session)
        sub = zctx.socket(zmq.SUB)
        sub.linger = 0
        sub.subscribe(b"")
        sub.connect(entry.endpoints.pubs[LOSSLESS])
        got = _collect(sub)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert sum(1 for g in got if g[1].kind == wire.Kind.FRAME) == 120
    assert not list_live()  # withdrawn at the end
