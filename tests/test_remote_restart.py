"""A remote device whose device fails is reopened by `mestudio node` itself (mestudio/remote_restarts.py):
the session gets the same node-down / node-restarted markers and verify outages as for a local node.

Two real processes on one PC (loopback CURVE tcp, as test_remote_node.py); the synthetic camera's
``fault`` option makes every open of the remote device fail for real after a few frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mestudio.capture.pattern import read_stamp
from mestudio.stream.session_reader import SessionReader
from tests.conftest import mestudio
from tests.session_helpers import (
    events,
    manifest,
    remote_rig,
    remote_rig_template,
    session_dir,
    start_node,
    start_run,
    stop,
    wait_recording,
)

RIG = remote_rig_template("rr", 'fault = "{fault}"\nfault_after_frames = 20\n')


def _session_with_failing_remote(tmp_path, fault: str, timeout: float = 5.0):
    """Run the session and the remote node until the node gives up (every open fails)."""
    cfg = remote_rig(tmp_path, RIG, fault=fault, timeout=timeout, restarts=2)
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        node = start_node(cfg, "cam2", "--client", "pc2")
        # 3 opens of 20 frames, then it gives up (restarts = 2): the node ends by itself
        node_out, node_err = node.communicate(timeout=120)
        wait_recording(root, "cam", 10)
    finally:
        code, out, err = stop(proc)
    return root, node.returncode, node_out, node_err, code, err


def _check_outages(root) -> dict:
    m = manifest(root)
    restarts = [r for r in m["restarts"] if r["node"] == "cam2"]
    assert [r["restart"] for r in restarts] == [1, 2] and m["nodes"]["cam2"]["restarts"] == 2, m["restarts"]
    topics = [e["topic"] for e in SessionReader(root).events() if e.get("body", {}).get("node") == "cam2"]
    assert [t for t in topics if t in ("session/node-down", "session/node-restarted")] == [
        "session/node-down",
        "session/node-restarted",
    ] * 2
    bases = [r["seq_base"]["cam2"] for r in restarts]
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam2 = next(s for s in v["streams"] if s["stream_id"] == "cam2")
    # sequence numbers go on after the last one published; each reopening is an outage on record
    assert cam2["gaps"] == 0 and cam2["seq_out_of_order"] == 0, cam2
    assert [o["from_seq"] for o in cam2["outages"]] == bases and all(o["gap_s"] >= 0.2 for o in cam2["outages"])
    assert cam2["frames"] == cam2["published"], cam2  # END counts every open's frames
    # ground truth from the frames themselves: each open's pattern starts again at tick 0
    idx = SessionReader(root).stream("cam2").index
    assert np.all(np.diff(idx["seq"].astype(np.int64)) == 1)
    for rec, frame in SessionReader(root).stream("cam2").frames():
        base = max([0] + [b for b in bases if b <= rec["seq"]])
        assert read_stamp(frame) == rec["seq"] - base
    assert not any(o for s in v["streams"] if s["stream_id"] == "cam" for o in s["outages"])
    return v


@pytest.mark.slow
def test_a_remote_device_that_fails_is_reopened_by_its_node_and_verify_accounts_for_it(tmp_path):
    root, node_code, node_out, node_err, code, err = _session_with_failing_remote(tmp_path, "error")
    assert node_out.count("reopening in") == 2, node_out
    assert node_code == 1 and len(node_err.strip().splitlines()) == 1, node_err
    assert "DeviceFaultError" in node_err and "(restarts used: 2 of 2)" in node_err
    assert "cam2 (remote device on 127.0.0.1) failed: DeviceFaultError" in err
    assert "; reopening in 0.2 s (restart 1 of 2)" in err and "(restart 2 of 2)" in err
    assert "stopped before it was asked to: device failed" in err  # the third failure is final
    assert code != 0 and manifest(root)["nodes"]["cam2"]["exit"] == "failed on its host"
    _check_outages(root)
    assert len(events(root, "session/node-down")) == 2


@pytest.mark.slow
def test_a_remote_device_whose_driver_hangs_is_abandoned_and_reopened(tmp_path):
    root, node_code, node_out, node_err, code, err = _session_with_failing_remote(tmp_path, "hang", timeout=1.5)
    assert node_code == 1 and "(hung), so the device was abandoned" in node_err, node_err
    # the node kept beating while its device hung: the supervisor never thought it dead
    assert "sent no heartbeat" not in err and "(hung), so the device was abandoned; reopening in" in err
    _check_outages(root)


@pytest.mark.slow
def test_a_remote_node_restarting_its_device_stops_cleanly_with_the_session(tmp_path):
    cfg = remote_rig(tmp_path, RIG, fault="error", timeout=5.0, restarts=50)
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        node = start_node(cfg, "cam2", "--client", "pc2")
        wait_recording(root, "cam2", 50, timeout_s=60)  # past its second open: restarted at least twice
    finally:
        code, out, err = stop(proc)
    node_out, node_err = node.communicate(timeout=60)
    assert node.returncode == 0 and node_err == "", node_err + node_out  # within its limits: no failure
    m = manifest(root)
    assert m["nodes"]["cam2"]["exit"] == "stopped" and m["nodes"]["cam2"]["restarts"] >= 2
    assert "sent no heartbeat" not in err and "stopped before it was asked to" not in err
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam2 = next(s for s in v["streams"] if s["stream_id"] == "cam2")
    assert len(cam2["outages"]) == m["nodes"]["cam2"]["restarts"] and cam2["gaps"] == 0, cam2
    assert cam2["frames"] == cam2["published"], cam2
