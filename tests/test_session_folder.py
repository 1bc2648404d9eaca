"""The session folder: append, read back, and repair of every kind of torn tail."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mestudio.capture.pattern import read_stamp, stamp
from mestudio.stream.errors import NotASessionError, SessionError
from mestudio.stream.repair import repair
from mestudio.stream.session import INDEX_DTYPE, write_json_atomic
from mestudio.stream.session_reader import SessionReader
from mestudio.stream.session_writer import SessionWriter
from mestudio.stream.verify import verify


def make_session(root, frames=20, shape=(24, 32), status="recording", pid=None):
    root.mkdir()
    write_json_atomic(
        root / "manifest.json", {"format": "mestudio-session", "status": status, "t0_host_ns": 0, "supervisor_pid": pid}
    )
    w = SessionWriter(root)
    s = w.stream("cam", "|u1", shape, "mono8")
    for i in range(frames):
        s.append(i, i * 1000, 1_000_000_000 + i * 16_666_667, memoryview(stamp(np.full(shape, i, np.uint8), i)))
    w.event({"topic": "markers/x", "host_time_ns": 5, "body": {"a": 1}})
    w.flush()
    w.close()
    return root


def test_round_trip(tmp_path):
    root = make_session(tmp_path / "s", status="complete")
    (root / "recorder.json").write_text("{}")
    r = SessionReader(root)
    st = r.stream("cam")
    assert len(st) == 20
    for i, (rec, frame) in enumerate(st.frames()):
        assert rec["seq"] == i and read_stamp(frame) == i and frame[5, 5] == i
    rep = verify(root)
    assert rep.ok and rep.streams[0].frames == 20 and rep.streams[0].gaps == 0
    assert rep.streams[0].fps == pytest.approx(60, rel=1e-3)
    ts = pd.read_csv(root / "streams" / "cam" / "timestamps.csv")
    assert list(ts["seq"]) == list(range(20)) and ts["session_time_s"].iloc[1] == pytest.approx(1.016667, abs=1e-6)


def test_gaps_and_disorder_are_reported(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    write_json_atomic(root / "manifest.json", {"format": "mestudio-session", "status": "complete"})
    (root / "recorder.json").write_text("{}")
    w = SessionWriter(root)
    s = w.stream("cam", "|u1", (2, 2), "mono8")
    for seq, host in [(0, 10), (1, 20), (5, 30), (4, 25), (6, 40)]:
        s.append(seq, None, host, b"\0" * 4)
    w.close()
    st = verify(root).streams[0]
    assert st.gaps == 2 and st.gap_ranges == [(2, 3)] and st.seq_out_of_order == 1 and st.host_time_backwards == 1
    assert not st.ok


@pytest.mark.parametrize("tear", ["index_half_record", "frame_half_written", "data_without_index", "events_half_line"])
def test_repair_trims_only_the_torn_tail(tmp_path, tear):
    root = make_session(tmp_path / "s")
    d = root / "streams" / "cam"
    if tear == "index_half_record":
        with open(d / "index.bin", "ab") as f:
            f.write(b"\1" * (INDEX_DTYPE.itemsize // 2))
    elif tear == "frame_half_written":  # the index of frame 19 reached the disk, half its data did not
        size = (d / "frames.bin").stat().st_size
        with open(d / "frames.bin", "r+b") as f:
            f.truncate(size - 100)
    elif tear == "data_without_index":
        with open(d / "frames.bin", "ab") as f:
            f.write(b"\7" * 500)
    else:
        with open(root / "events.jsonl", "a") as f:
            f.write('{"topic": "markers/x", "ho')
    trimmed = repair(root)
    assert trimmed
    rep = verify(root)
    expected = 19 if tear == "frame_half_written" else 20
    st = rep.streams[0]
    assert st.frames == expected and st.gaps == 0 and st.ok
    for i, (_, frame) in enumerate(SessionReader(root).stream("cam").frames()):
        assert read_stamp(frame) == i
    m = json.loads((root / "manifest.json").read_text())
    assert m["status"] == "repaired" and (root / "repair.json").exists()
    assert rep.events == 1


def test_repair_refuses_a_session_still_recording(tmp_path):
    import os

    root = make_session(tmp_path / "s", pid=os.getppid())
    with pytest.raises(SessionError, match="still being recorded"):
        repair(root)


def test_not_a_session(tmp_path):
    with pytest.raises(NotASessionError, match="no such session folder"):
        SessionReader(tmp_path / "nope")
    with pytest.raises(NotASessionError, match="no manifest.json"):
        SessionReader(tmp_path)
