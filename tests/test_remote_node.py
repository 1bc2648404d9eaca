"""`mestudio node` on one PC (loopback): joining, refusals, and a remote device that never comes."""

from __future__ import annotations

import json
import signal

import pytest

from mestudio.stream.curve import create_keys
from mestudio.stream.session_reader import SessionReader
from tests.conftest import mestudio
from tests.session_helpers import manifest, remote_rig, session_dir, start_node, start_run, stop, wait_recording

RIG = """
[session]
name = "rn"
participant = "P01"
[transport]
scheme = "tcp"
base_port = BASE
keys = "{keys}"
heartbeat_s = 0.2
remote_wait_s = {wait}
[[devices]]
name = "cam"
kind = "synthetic-camera"
width = 160
height = 120
fps = 30
[[devices]]
name = "cam2"
kind = "synthetic-camera"
host = "127.0.0.1"
width = 160
height = 120
fps = 30
"""


def _rig(tmp_path, wait: float = 60):
    return remote_rig(tmp_path, RIG, wait=wait)


@pytest.mark.slow
def test_node_refuses_a_device_that_is_not_remote_or_unknown(tmp_path):
    cfg = _rig(tmp_path)
    for device, words in [("cam", "device 'cam' has no host"), ("nope", "no enabled device named 'nope'")]:
        r = mestudio("node", str(cfg), "--device", device)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = mestudio("node", str(cfg), "--device", "cam2", "--keys", str(tmp_path / "none"))
    assert r.returncode == 2 and "no such keys folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_remote_device_that_never_connects_fails_the_session_saying_what_to_run(tmp_path):
    r = mestudio("run", str(_rig(tmp_path, wait=2)), "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode != 0
    assert "cam2 (remote device on 127.0.0.1) did not connect within 2 s: run `mestudio node" in r.stderr
    assert manifest(session_dir(tmp_path / "out"))["status"] == "failed"


@pytest.mark.slow
def test_a_remote_node_joins_only_with_an_allowed_key_and_stops_with_the_session(tmp_path):
    cfg = _rig(tmp_path)
    strangers = tmp_path / "strangers"
    create_keys(strangers)  # a different server key and a client key the session does not allow
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        bad = start_node(cfg, "cam2", "--keys", str(strangers), "--wait", "3")
        out, err = bad.communicate(timeout=60)
        assert bad.returncode == 1 and "no session answered" in err and len(err.strip().splitlines()) == 1, err
        good = start_node(cfg, "cam2", "--client", "pc2", "--json")
        wait_recording(root, "cam2", 30, timeout_s=60)
    finally:
        code, out, err = stop(proc)
    node_out, node_err = good.communicate(timeout=30)
    assert code == 0, err + out[-3000:]
    assert good.returncode == 0, node_err
    status = json.loads(node_out[node_out.index("{") :])
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam2 = next(s for s in v["streams"] if s["stream_id"] == "cam2")
    assert v["ok"] and cam2["frames"] == cam2["published"] == status["streams"]["cam2"]["frames"]
    assert manifest(root)["nodes"]["cam2"]["exit"] == "stopped"


@pytest.mark.slow
def test_a_remote_node_stopped_on_its_host_is_reported_and_the_rest_records_on(tmp_path):
    cfg = _rig(tmp_path)
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        node = start_node(cfg, "cam2", "--client", "pc2")
        wait_recording(root, "cam2", 30, timeout_s=60)
        node.send_signal(signal.SIGINT)  # someone pressed Ctrl-C on the capture PC
        node_out, node_err = node.communicate(timeout=30)
        assert node.returncode == 0, node_err
        wait_recording(root, "cam", 10)
        cam_before = SessionReader(root).stream("cam").index["seq"].size
        wait_recording(root, "cam", cam_before + 30)  # the local camera goes on
    finally:
        code, out, err = stop(proc)
    assert code != 0 and "cam2 (remote device on 127.0.0.1) stopped before it was asked to" in err
    m = manifest(root)
    assert m["status"] == "failed" and m["nodes"]["cam2"]["exit"] == "stopped on its host"
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam2 = next(s for s in v["streams"] if s["stream_id"] == "cam2")
    assert cam2["gaps"] == 0 and cam2["frames"] == cam2["published"]  # what it sent before is all there
