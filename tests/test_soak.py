"""Soak: a session whose device nodes are killed every minute and restarted; verify accounts for all.

MESTUDIO_SOAK_KILLS (default 3) kills, one per MESTUDIO_SOAK_EVERY_S (default 60) seconds of
recording, alternating the camera and the microphone; 10 kills is the issue's 10-minute session.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mestudio.capture.pattern import read_stamp
from mestudio.stream.session_reader import SessionReader
from tests.conftest import mestudio, write_config
from tests.session_helpers import child, manifest, session_dir, start_run, stop, wait_for_child, wait_recording

KILLS = int(os.environ.get("MESTUDIO_SOAK_KILLS", "3"))
EVERY_S = float(os.environ.get("MESTUDIO_SOAK_EVERY_S", "60"))
FPS, BLOCKS_PER_S = 30, 48000 / 1600

RIG = f"""
[session]
name = "soak"
participant = "P01"
restarts = {KILLS + 1}
restart_backoff_s = 0.5
restart_backoff_max_s = 2
[transport]
heartbeat_s = 0.2
[[devices]]
name = "cam"
kind = "synthetic-camera"
width = 160
height = 120
fps = {FPS}
[[devices]]
name = "mic"
kind = "synthetic-audio"
rate = 48000
block = 1600
"""


def _recorded(root, sid: str) -> int:
    p = root / "streams" / sid / "index.bin"
    return p.stat().st_size // 48 if p.exists() else 0


@pytest.mark.slow
@pytest.mark.timeout(KILLS * EVERY_S * 2 + 300)
def test_soak_nodes_killed_every_minute_every_gap_accounted_for(tmp_path):
    rig = write_config(tmp_path / "soak.toml", RIG)
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    killed = {"cam": 0, "mic": 0}
    try:
        wait_recording(root, "cam", 30)
        for k in range(KILLS):
            # a minute of recording (counted in frames, not slept), then the next kill
            wait_recording(root, "cam", _recorded(root, "cam") + int(EVERY_S * FPS * 0.9), timeout_s=EVERY_S * 3)
            name = ("cam", "mic")[k % 2]
            victim = child(proc, name)
            victim.kill()
            killed[name] += 1
            wait_for_child(proc, name, lambda c, pid=victim.pid: c.pid != pid, timeout_s=60)
        wait_recording(root, "cam", _recorded(root, "cam") + 3 * FPS, timeout_s=60)
        wait_recording(root, "mic", _recorded(root, "mic") + int(3 * BLOCKS_PER_S), timeout_s=60)
    finally:
        code, out, err = stop(proc, timeout_s=120)
    m = manifest(root)
    # every death was made good by a restart: the session completed, its holes are on record ...
    assert code != 0 and m["status"] == "complete"
    assert len(m["restarts"]) == KILLS and all("restarting in" in p for p in m["problems"])

    r = mestudio("verify", str(root), "--json", timeout=300)
    v = json.loads(r.stdout)
    assert r.returncode != 0
    # ... but every hole is a restart on the timeline, and nothing else is missing
    assert all("died (killed by signal SIGKILL) and was restarted" in p for p in v["problems"]), v["problems"]
    assert len(v["problems"]) == KILLS
    figures = {}
    reader = SessionReader(root)
    for s in v["streams"]:
        sid = s["stream_id"]
        assert s["gaps"] == 0 and s["seq_out_of_order"] == 0 and s["bad_sizes"] == 0, s
        assert s["host_time_backwards"] == 0 and s["unrecorded"] == 0, s
        assert len(s["outages"]) == killed[sid]
        gaps = [o["gap_s"] for o in s["outages"]]
        assert all(g is not None and 0 < g < 20 for g in gaps), gaps
        figures[sid] = {"frames": s["frames"], "outages": len(gaps), "gap_s": gaps, "fps": s["fps"]}
    bases = sorted(o["from_seq"] for o in next(s for s in v["streams"] if s["stream_id"] == "cam")["outages"])
    starts = np.array([0, *bases])
    for rec, frame in reader.stream("cam").frames():  # each frame is the one its process made
        seq = int(rec["seq"])
        assert read_stamp(frame) == seq - starts[np.searchsorted(starts, seq, side="right") - 1]
    print(f"\nsoak: {KILLS} kills, {m['duration_s']:.0f} s: " + json.dumps(figures))
