"""The recorder says how far behind it is, and its background sync keeps the index behind the data.

Frames go over a real PUSH/PULL ipc pair into the Recorder; their host stamps are the ground
truth: a frame stamped 2 s before it was sent waited 2 s, whatever the machine's load."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import zmq

from mestudio.progress import TerminalProgress
from mestudio.stream import messages, wire
from mestudio.stream.backlog import BEHIND_S, Backlog
from mestudio.stream.buffers import keep_freed_buffers
from mestudio.stream.recorder import Recorder
from mestudio.stream.recorder_node import drain
from mestudio.stream.session import INDEX_DTYPE, write_json_atomic
from mestudio.stream.session_reader import SessionReader
from mestudio.stream.session_writer import SessionWriter

SHAPE = (12, 16)


def new_session(root):
    root.mkdir()
    write_json_atomic(root / "manifest.json", {"format": "mestudio-session", "status": "recording", "t0_host_ns": 0})
    return root


@pytest.fixture
def pipe(zctx, tmp_path):
    pull = zctx.socket(zmq.PULL)
    push = zctx.socket(zmq.PUSH)
    for s in (pull, push):
        s.linger = 0
    ep = f"ipc://{tmp_path}/rec"
    pull.bind(ep)
    push.connect(ep)
    yield push, pull
    push.close()
    pull.close()


def send_and_drain(push, pull, rec, sid, seqs, age_s=0.0, clock_offset_s=0.0):
    """Frames stamped ``age_s`` in the past on a host clock ``clock_offset_s`` ahead of ours."""
    for seq in seqs:
        stamp = time.monotonic_ns() - int(age_s * 1e9) + int(clock_offset_s * 1e9)
        wire.send(push, wire.frame_parts(sid, seq, np.full(SHAPE, seq, np.uint8), host_time_ns=stamp))
    want = rec.messages + len(seqs)
    while rec.messages < want:
        assert pull.poll(10_000), "frames sent over ipc never arrived"
        drain(pull, rec)


def test_backlog_is_noted_when_behind_and_when_caught_up(tmp_path, pipe):
    push, pull = pipe
    rec = Recorder(new_session(tmp_path / "s"))
    send_and_drain(push, pull, rec, "cam", range(5))
    assert rec.backlog_s() < 0.5 and rec.status()["streams"]["cam"]["backlog_s"] < 0.5
    rec.check_backlog()
    assert not rec.behind

    send_and_drain(push, pull, rec, "cam", [5], age_s=2 * BEHIND_S)  # waited 2 s in a queue
    st = rec.status()
    assert st["backlog_s"] >= 1.5 * BEHIND_S and st["backlog_max_s"] >= 1.5 * BEHIND_S
    rec.check_backlog()
    assert rec.behind

    send_and_drain(push, pull, rec, "cam", range(6, 9))
    rec.check_backlog()
    assert not rec.behind and rec.status()["backlog_max_s"] >= 1.5 * BEHIND_S
    rec.flush()
    rec.close()
    notes = [e["body"] for e in SessionReader(tmp_path / "s").events() if e["topic"] == messages.RECORDER_BEHIND]
    assert [n["behind"] for n in notes] == [True, False]
    assert notes[0]["backlog_s"] >= 1.5 * BEHIND_S and "behind its producers" in notes[0]["note"]


def test_a_remote_hosts_clock_offset_is_not_a_backlog(tmp_path, pipe):
    push, pull = pipe
    rec = Recorder(new_session(tmp_path / "s"))
    send_and_drain(push, pull, rec, "remote", range(5), clock_offset_s=1000.0)  # its clock is 1000 s ahead
    send_and_drain(push, pull, rec, "local", range(5))
    assert rec.backlog_s() < 0.5
    rec.close()


def test_progress_line_shows_the_backlog():
    out = SimpleNamespace(isatty=lambda: False, lines=[])
    out.write, out.flush = out.lines.append, lambda: None
    rec = SimpleNamespace(role="recorder", status={"bytes": 0, "backlog_s": 2.5, "free_mb": 5000, "streams": {}})
    TerminalProgress(out)(SimpleNamespace(children={"recorder": rec}, started=time.monotonic()))
    assert "behind  2.5s BEHIND" in out.lines[0]


def test_a_background_sync_writes_the_index_only_after_its_frames(tmp_path):
    w = SessionWriter(new_session(tmp_path / "s"))
    s = w.stream("cam", "|u1", SHAPE, "mono8")
    for i in range(10):
        s.append(i, None, i, memoryview(np.full(SHAPE, i, np.uint8)).cast("B"))
    index = tmp_path / "s" / "streams" / "cam" / "index.bin"
    assert index.stat().st_size == 0  # no record on disk before its frame is synced
    w.flush(wait=False)
    for i in range(10, 15):  # appending goes on while the sync runs
        s.append(i, None, i, memoryview(np.full(SHAPE, i, np.uint8)).cast("B"))
    w.flush()  # waits for the first sync, then syncs the rest
    assert index.stat().st_size == 15 * INDEX_DTYPE.itemsize
    w.close()
    st = SessionReader(tmp_path / "s").stream("cam")
    assert [int(r["seq"]) for r in st.index] == list(range(15)) and not st.checksum_mismatches()
    assert all(int(frame[0, 0]) == int(r["seq"]) for r, frame in st.frames())


def test_freed_frame_buffers_are_kept_for_reuse_on_glibc():
    import platform

    assert keep_freed_buffers() == (platform.libc_ver()[0] == "glibc")


def test_past_its_bound_the_recorder_says_it_cannot_keep_up_and_drops_nothing(tmp_path, pipe):
    push, pull = pipe
    rec = Recorder(new_session(tmp_path / "s"), max_backlog_s=3 * BEHIND_S)
    send_and_drain(push, pull, rec, "cam", range(5))
    send_and_drain(push, pull, rec, "cam", [5], age_s=2 * BEHIND_S)  # behind, inside the bound
    rec.check_backlog()
    assert rec.behind and not rec.cannot_keep_up
    send_and_drain(push, pull, rec, "cam", [6], age_s=4 * BEHIND_S)  # past the bound
    rec.check_backlog()
    st = rec.status()
    assert st["cannot_keep_up"] and st["cannot_keep_up_times"] == 1 and rec.status_body().cannot_keep_up
    assert st["rss_mb"] > 0
    rec.check_backlog()  # still over: said once per episode
    send_and_drain(push, pull, rec, "cam", range(7, 10))
    rec.check_backlog()
    assert not rec.cannot_keep_up and rec.status()["cannot_keep_up_times"] == 1
    rec.flush()
    rec.close()
    reader = SessionReader(tmp_path / "s")
    ev = list(reader.events())
    problems = [e["body"] for e in ev if e["topic"] == messages.SESSION_PROBLEM]
    assert len(problems) == 1 and "recorder cannot keep up" in problems[0]["problem"] and not problems[0]["fatal"]
    notes = [e["body"]["cannot_keep_up"] for e in ev if e["topic"] == messages.RECORDER_CANNOT_KEEP_UP]
    assert notes == [True, False]
    assert [int(r["seq"]) for r in reader.stream("cam").index] == list(range(10))  # nothing dropped


def test_the_queued_megabytes_follow_the_producers_rate():
    """A 60 fps stream of 10 kB frames whose newest frame waited 2 s: 120 frames, 1.2 MB queued."""
    lag = Backlog()
    for i in range(121):
        lag.saw("cam", 2_000_000_000 if i == 120 else 1000, i * 1_000_000_000 // 60, 10_000)
    assert lag.of_s("cam") == pytest.approx(2.0, abs=1e-5)
    assert lag.queued_mb() == pytest.approx(1.2, rel=1e-3)


def test_past_the_shed_bound_frames_are_counted_not_written_and_verify_names_them(tmp_path, pipe):
    """A real queue: a producer goes on sending (100 kB frames stamped as sent) while the recorder
    takes nothing for 0.3 s, then it drains. Past recorder.shed_above_mb of estimated queue it
    sheds (counted per stream, a session problem, a timeline event) until the queue is under half
    of it, then writes again; what it wrote is intact, and verify names the shed frames."""
    from mestudio.stream.verify import verify

    push, pull = pipe
    root = new_session(tmp_path / "s")
    rec = Recorder(root, shed_above_mb=4.0)
    shape = (250, 400)

    def send(seq: int) -> None:
        img = np.full(shape, seq % 251, np.uint8)
        wire.send(push, wire.frame_parts("cam", seq, img, host_time_ns=time.monotonic_ns()))

    for seq in range(20):  # taken at once: the transport's floor
        send(seq)
        while rec.messages <= seq:
            assert pull.poll(10_000)
            drain(pull, rec)
    seq, t0 = 20, time.monotonic()
    while time.monotonic() - t0 < 0.3 or seq < 60:  # ~50 MB/s for 0.3 s, nothing taken: ~15 MB queued
        send(seq)
        seq += 1
        time.sleep(0.002)  # the producer's pace, not a condition of the test
    sent = seq
    while rec.messages < sent:
        assert pull.poll(10_000)
        drain(pull, rec, limit=1)
        rec.check_backlog()  # as the node does between batches
    st = rec.status()
    shed = st["shed"].get("cam", 0)
    assert shed >= 1 and not st["shedding"] and st["shed_times"] == 1, st
    rec.flush()
    rec.report("stopped")
    rec.close()
    reader = SessionReader(root)
    index = reader.stream("cam").index
    assert len(index) + shed == sent
    assert all(int(f[0, 0]) == int(r["seq"]) % 251 for r, f in reader.stream("cam").frames())
    ev = list(reader.events())
    notes = [e["body"]["shedding"] for e in ev if e["topic"] == messages.RECORDER_SHEDDING]
    assert notes == [True, False]
    problems = [e["body"]["problem"] for e in ev if e["topic"] == messages.SESSION_PROBLEM]
    assert any("sheds frames" in p for p in problems)
    text = "\n".join(p for s in verify(root, do_repair=False).streams for p in s.problems)
    assert f"{shed} frames shed by the recorder" in text
