"""Faults a session survives: a device node that dies is started again, and the gap is accounted for."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mestudio.capture.pattern import read_stamp
from mestudio.stream.session_reader import SessionReader
from tests.conftest import SMALL_RIG, mestudio, write_config
from tests.session_helpers import child, manifest, session_dir, start_run, stop, wait_for_child, wait_recording

RESTARTING = SMALL_RIG.replace('participant = "P01"', 'participant = "P01"\nrestart_backoff_s = 0.2')


def _restarted(proc, name: str, pid: int, timeout_s: float = 30):
    """The node process ``name`` once it is a new process (not ``pid``)."""
    return wait_for_child(proc, name, lambda c: c.pid != pid, timeout_s)


@pytest.mark.slow
def test_a_dead_device_node_is_restarted_and_verify_accounts_for_the_gap(tmp_path):
    rig = write_config(tmp_path / "rig.toml", RESTARTING)
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 30)
    first = child(proc, "cam")
    first.kill()
    _restarted(proc, "cam", first.pid)
    before = SessionReader(root).stream("cam").index["seq"].size
    wait_recording(root, "cam", before + 60)  # a second of frames from the new process
    code, out, err = stop(proc)
    assert code != 0  # a stream with a hole is not a complete recording
    assert "cam (device) killed by signal SIGKILL; restarting in 0.2 s (restart 1 of 3)" in err
    m = manifest(root)
    assert [r["node"] for r in m["restarts"]] == ["cam"] and m["nodes"]["cam"]["restarts"] == 1
    topics = [e["topic"] for e in SessionReader(root).events()]
    assert topics.index("session/node-down") < topics.index("session/node-restarted")
    base = m["restarts"][0]["seq_base"]["cam"]

    r = mestudio("verify", str(root), "--json")
    v = json.loads(r.stdout)
    assert r.returncode != 0 and not v["ok"]
    cam = next(s for s in v["streams"] if s["stream_id"] == "cam")
    # sequence numbers go on where the recording stopped: no gap, nothing out of order ...
    assert cam["gaps"] == 0 and cam["seq_out_of_order"] == 0 and cam["unrecorded"] == 0
    # ... and the outage is measured in the stream's own frames and named as a problem
    [outage] = cam["outages"]
    assert outage["from_seq"] == base and 0.2 <= outage["gap_s"] < 30
    assert any(p.startswith("cam: device node cam died (killed by signal SIGKILL)") for p in v["problems"])
    mic = next(s for s in v["streams"] if s["stream_id"] == "mic")
    assert mic["gaps"] == 0 and not mic["outages"]  # the other device never stopped
    # every frame is the one its device made: the new process's frames carry its own count
    for rec, frame in SessionReader(root).stream("cam").frames():
        assert read_stamp(frame) == (rec["seq"] if rec["seq"] < base else rec["seq"] - base)
    idx = SessionReader(root).stream("cam").index
    assert np.all(np.diff(idx["seq"].astype(np.int64)) == 1)


@pytest.mark.slow
def test_restarts_zero_keeps_a_dead_device_down(tmp_path):
    rig = write_config(
        tmp_path / "rig.toml", RESTARTING.replace("restart_backoff_s = 0.2", "restart_backoff_s = 0.2\nrestarts = 0")
    )
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 30)
    wait_recording(root, "mic", 10)
    child(proc, "cam").kill()
    mic_before = SessionReader(root).stream("mic").index["seq"].size
    wait_recording(root, "mic", mic_before + 90)
    code, out, err = stop(proc)
    assert code != 0 and "restarting" not in err and "cam (device) killed by signal SIGKILL" in err
    assert manifest(root)["restarts"] == []


@pytest.mark.slow
def test_a_hung_device_node_is_killed_and_restarted(tmp_path):
    rig = write_config(tmp_path / "rig.toml", RESTARTING)
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 30)
    first = child(proc, "cam")
    first.suspend()  # alive and holding its sockets, but sending nothing: as a node stuck in a call
    _restarted(proc, "cam", first.pid, timeout_s=60)
    before = SessionReader(root).stream("cam").index["seq"].size
    wait_recording(root, "cam", before + 60)
    code, out, err = stop(proc)
    assert "cam (device) killed by signal SIGKILL: sent no heartbeat for" in err
    assert "(not responding), so it was killed; restarting in 0.2 s (restart 1 of 3)" in err
    m = manifest(root)
    assert m["nodes"]["cam"]["restarts"] == 1 and m["status"] == "complete", m
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam = next(s for s in v["streams"] if s["stream_id"] == "cam")
    assert cam["gaps"] == 0 and len(cam["outages"]) == 1  # the time it hung is on record, as an outage
