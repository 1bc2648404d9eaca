"""The face rig through the real command line: the session holds the frames and, beside them, the
script as ground truth, on the same clock as the frames' host times."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mestudio.capture.face.devices import SCRIPT_LEAD_NS
from mestudio.capture.face.script import FaceScript
from mestudio.stream.session_reader import SessionReader
from tests.conftest import mestudio, write_config

FACE_RIG = """
[session]
name = "facegt"
participant = "P01"
[[devices]]
name = "face"
kind = "synthetic-camera"
source = "face"
width = 320
height = 240
fps = 30
seed = 4
[[devices]]
name = "kin"
kind = "synthetic-rgbd"
source = "face"
width = 160
height = 120
fps = 15
seed = 4
"""


@pytest.mark.slow
def test_face_rig_session_writes_ground_truth(tmp_path):
    cfg = write_config(tmp_path / "face.toml", FACE_RIG)
    r = mestudio("run", str(cfg), "--duration", "3", "--out", str(tmp_path / "out"), "--quiet", timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    session = tmp_path / "out" / re.search(r"session: .*/([^/\s]+)\s*$", r.stdout).group(1)
    gt = FaceScript.load(session / "ground_truth" / "face_script.json")
    assert gt.seed == 4 and gt.expressions() and gt.rendered_until_s and gt.rendered_until_s > 1.0
    for dev in ("face", "kin"):
        per_dev = FaceScript.load(session / "ground_truth" / f"face_script-{dev}.json")
        assert per_dev.events == gt.events
    reader = SessionReader(session)
    idx, frame = next(iter(reader.stream("face").frames()))
    assert frame.shape == (240, 320) and 60 < float(np.mean(frame)) < 200  # a photograph, not blank
    first_host = int(idx["host_time_ns"])
    own = FaceScript.load(session / "ground_truth" / "face_script-face.json")
    kin = FaceScript.load(session / "ground_truth" / "face_script-kin.json")
    t0 = json.loads((session / "manifest.json").read_text())["t0_host_ns"]
    assert own.epoch_host_ns == kin.epoch_host_ns == t0 + SCRIPT_LEAD_NS  # one script clock for all views
    # frames come after the session's t0; how long the devices took to start is the machine's business
    assert first_host > t0 and own.device_t0_host_ns >= t0
    assert set(reader.stream_ids()) >= {"face", "kin-color", "kin-depth"}
