"""A real `mestudio run` whose recorder cannot keep up by far (its writes capped to a third of
what the camera makes, recorder.write_mb_per_s) and whose shed bound is small: it sheds rather
than grow its queue without end, says so, and verify names what was shed.  Ground truth: the
camera's own END count against the frames on disk."""

from __future__ import annotations

import json

import pytest

from mestudio.stream import messages
from mestudio.stream.session_reader import SessionReader
from tests.conftest import mestudio, slow_recorder_rig, write_config

RIG = slow_recorder_rig("shed_above_mb = 0.15")


@pytest.mark.slow
def test_a_recorder_far_behind_sheds_counts_and_verify_says_so(tmp_path):
    cfg = write_config(tmp_path / "rig.toml", RIG)
    r = mestudio("run", str(cfg), "--duration", "6", "--out", str(tmp_path / "out"), "--quiet", timeout=180)
    assert r.returncode == 1, r.stderr[-2000:]  # a session with problems
    assert "frames shed by the recorder" in r.stdout, r.stdout
    (root,) = [p.parent for p in (tmp_path / "out").glob("*/manifest.json")]
    report = json.loads((root / "recorder.json").read_text())
    shed = report["shed"].get("cam", 0)
    assert shed >= 1 and report["shed_times"] >= 1 and report["shed_above_mb"] == 0.15
    reader = SessionReader(root)
    end = next(e["body"] for e in reader.events() if e["topic"] == "end/cam")
    written = len(reader.stream("cam").index)
    assert written + shed == end["frames"]  # every frame the camera sent is written or counted as shed
    timeline = list(reader.events())
    notes = [e["body"]["shedding"] for e in timeline if e["topic"] == messages.RECORDER_SHEDDING]
    assert notes and notes[0] is True
    v = mestudio("verify", str(root), "--no-repair")
    assert v.returncode == 1 and f"{shed} frames shed by the recorder" in v.stdout, v.stdout
