"""`mestudio run`: real node processes, real sockets, a real session folder."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from mestudio.capture.pattern import read_stamp
from mestudio.stream.bus import wait_for
from mestudio.stream.session import INDEX_DTYPE
from mestudio.stream.session_reader import SessionReader
from tests.conftest import SMALL_RIG, mestudio, write_config
from tests.session_helpers import (
    child,
    events,
    live_session_dir,
    manifest,
    session_dir,
    start_run,
    stop,
    wait_recording,
)


@pytest.fixture
def rig(tmp_path):
    return write_config(tmp_path / "rig.toml", SMALL_RIG)


def test_run_records_every_published_frame(tmp_path, rig):
    r = mestudio("run", str(rig), "--duration", "3", "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    root = session_dir(tmp_path / "out")
    m = manifest(root)
    assert m["status"] == "complete" and not m["problems"]
    assert {n["exit"] for n in m["nodes"].values()} == {"exited with code 0"}
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    assert v["ok"]
    streams = {s["stream_id"]: s for s in v["streams"]}
    assert set(streams) == {"cam", "mic"}
    for s in streams.values():
        assert s["gaps"] == 0 and s["published"] == s["frames"] and s["unrecorded"] == 0
    assert 150 <= streams["cam"]["frames"] <= 260  # 3 s at 60 fps, plus start-up
    reader = SessionReader(root)
    for rec, frame in reader.stream("cam").frames():  # every frame is the one its device made
        assert read_stamp(frame) == rec["seq"]
    ts = pd.read_csv(root / "streams" / "cam" / "timestamps.csv")
    assert ts["seq"].is_monotonic_increasing and (ts["session_time_s"] > 0).all()
    topics = [e["topic"] for e in reader.events()]
    assert "session/start" in topics and "session/stop" in topics and "info/cam" in topics
    assert (root / "config.toml").read_text() == rig.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly(tmp_path, rig, sig):
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 30)
    kids = psutil.Process(proc.pid).children()
    code, out, err = stop(proc, sig)
    assert code == 0, err
    assert not [k for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
    m = manifest(root)
    assert m["status"] == "complete"
    assert (root / "recorder.json").exists() and (root / "streams" / "cam" / "timestamps.csv").exists()
    assert "verdict: OK" in out


def _stderr_line(proc, words: str, timeout_s: float) -> str:
    """The first stderr line of a running process that contains ``words`` (or "" after the timeout)."""
    import select

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if select.select([proc.stderr], [], [], 0.2)[0]:
            line = proc.stderr.readline()
            if words in line:
                return line
    return ""


def test_a_device_that_dies_is_reported_at_once_and_the_rest_keeps_recording(tmp_path, rig):
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 30)
    child(proc, "cam").kill()
    line = _stderr_line(proc, "cam (device) killed by signal SIGKILL", timeout_s=5)
    assert line and "recording goes on" in line
    assert proc.poll() is None
    mic_before = SessionReader(root).stream("mic").index["seq"].size
    wait_recording(root, "mic", mic_before + 60)  # another second of audio after the loss
    assert wait_for(lambda: events(root, "session/node-restarted"), 60)  # the default [session] restarts
    code, out, err = stop(proc)
    assert code != 0
    m = manifest(root)
    # made good by the restart: the session completes, and the death stays on record
    assert m["status"] == "complete" and "SIGKILL" in m["problems"][0], m["problems"]
    assert m["restarts"][0]["node"] == "cam"
    problems = [e for e in SessionReader(root).events() if e["topic"] == "session/problem"]
    assert problems and "cam (device)" in problems[0]["body"]["problem"]  # on the timeline too
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    mic = next(s for s in v["streams"] if s["stream_id"] == "mic")
    assert mic["gaps"] == 0 and mic["unrecorded"] == 0


def test_stop_on_node_failure_stops_the_session(tmp_path):
    cfg = write_config(
        tmp_path / "c.toml",
        SMALL_RIG.replace('participant = "P01"', 'participant = "P01"\nstop_on_node_failure = true'),
    )
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 30)
    t = time.monotonic()
    child(proc, "cam").kill()
    code, out, err = stop(proc, sig=0)  # no signal: it stops by itself
    assert time.monotonic() - t < 20 and code != 0
    assert "cam (device) killed by signal SIGKILL" in err and manifest(root)["status"] == "failed"


def test_recorder_killed_minus_9_loses_at_most_a_second(tmp_path, rig):
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 120)
    rec = child(proc, "recorder")
    killed_at = time.monotonic_ns()
    rec.kill()
    code, out, err = stop(proc, sig=0)
    assert code != 0 and "recorder (recorder) killed by signal SIGKILL" in err
    # the producers stopped by themselves (not killed after the grace) and kept their counts
    nodes = manifest(root)["nodes"]
    assert nodes["cam"]["exit"] == nodes["mic"]["exit"] == "exited with code 0", err
    assert nodes["cam"]["status"]["streams"]["cam"]["frames"] >= 120
    r = mestudio("verify", str(root), "--json")
    v = json.loads(r.stdout)
    assert v["status"] == "failed"  # the supervisor lived on and said why
    for s in v["streams"]:
        assert s["gaps"] == 0 and s["seq_out_of_order"] == 0 and s["bad_sizes"] == 0
    reader = SessionReader(root)
    cam = reader.stream("cam")
    last_host = int(cam.index["host_time_ns"][-1])
    assert (killed_at - last_host) / 1e9 <= 1.0
    for rec_, frame in cam.frames():
        assert read_stamp(frame) == rec_["seq"]
    # the frames kept are consistent, but the session is not complete: verify says so and why
    assert r.returncode == 1 and not v["ok"]
    assert any("node recorder (recorder) killed by signal SIGKILL" in p for p in v["problems"])
    assert any("no recorder.json" in p for p in v["problems"])
    cam_v = next(s for s in v["streams"] if s["stream_id"] == "cam")
    assert cam_v["published"] == nodes["cam"]["status"]["streams"]["cam"]["frames"]


def test_whole_session_killed_minus_9_is_repaired(tmp_path, rig):
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 60)
    kids = psutil.Process(proc.pid).children()
    killed_at = time.monotonic_ns()
    proc.kill()
    proc.communicate(timeout=10)
    gone, alive = psutil.wait_procs(kids, timeout=15)  # orphaned nodes notice and stop
    assert not alive
    r = mestudio("verify", str(root), "--json")
    v = json.loads(r.stdout)
    assert r.returncode == 1 and v["status"] == "repaired"  # repaired, and still not complete
    assert all(s["ok"] for s in v["streams"]) and any(
        "did not complete (status 'repaired')" in p for p in v["problems"]
    )
    cam = SessionReader(root).stream("cam")
    assert (killed_at - int(cam.index["host_time_ns"][-1])) / 1e9 <= 1.0
    assert "cut short" in " ".join(manifest(root)["problems"])


def test_a_power_cut_loses_only_what_had_not_reached_the_disk(tmp_path, rig):
    """Every process dies at the same instant, and the page cache's unwritten tails are lost."""
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 60)
    everyone = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children()]
    for p in everyone:  # no process gets to clean up: not the supervisor, not the recorder
        p.kill()
    psutil.wait_procs(everyone, timeout=15)
    proc.communicate(timeout=10)
    # ext4 can come back with a file's size written but its last blocks never: zeros at the tail
    torn = {}
    for sid in ("cam", "mic"):
        folder = root / "streams" / sid
        idx = np.fromfile(folder / "index.bin", INDEX_DTYPE)
        torn[sid] = len(idx)
        with open(folder / "index.bin", "r+b") as f:  # the last two records, and half of one before
            f.seek((len(idx) - 2) * INDEX_DTYPE.itemsize - INDEX_DTYPE.itemsize // 2)
            f.write(b"\0" * (2 * INDEX_DTYPE.itemsize + INDEX_DTYPE.itemsize // 2))
        size = (folder / "frames.bin").stat().st_size
        with open(folder / "frames.bin", "r+b") as f:  # and the data of the last four indexed frames on
            f.seek(int(idx["offset"][-4]))  # (the recorder may have written frames it had not indexed yet)
            f.write(b"\0" * (size - int(idx["offset"][-4])))
    with open(root / "events.jsonl", "ab") as f:
        f.write(b"\0" * 100)
    r = mestudio("verify", str(root), "--json")
    v = json.loads(r.stdout)
    assert r.returncode == 1 and v["status"] == "repaired", v
    for sid in ("cam", "mic"):
        s = next(x for x in v["streams"] if x["stream_id"] == sid)
        # the three garbled records are set aside; of the frames whose bytes were lost, those still
        # indexed fail their checksum: named, never handed out as good frames
        assert s["frames"] == torn[sid] - 3, s
        assert s["checksum_mismatches"] == 1 and any(
            f"stream {sid}: 1 frames fail their CRC32C" in p for p in s["problems"]
        ), s["problems"]
    reader = SessionReader(root)
    cam = reader.stream("cam")
    bad = set(cam.checksum_mismatches())
    good = [(rec, frame) for rec, frame in cam.frames() if int(rec["seq"]) not in bad]
    assert len(good) >= torn["cam"] - 7 and all(read_stamp(frame) == rec["seq"] for rec, frame in good)
    assert reader.events()  # the timeline reads, up to its last whole line
    again = json.loads(mestudio("verify", str(root), "--json").stdout)
    assert again["streams"] == v["streams"]  # a second verify finds nothing more to repair


def test_disk_full_stops_recording_and_keeps_what_was_written(tmp_path, rig):
    import resource

    def limit():  # every file of the session may grow to 3 MB: frames.bin hits it first
        resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, 3_000_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    proc = start_run(rig, tmp_path / "out", "--duration", "20", preexec_fn=limit)
    code, out, err = stop(proc, sig=0)
    assert code != 0
    assert "recorder (recorder) exited with code 3" in err and "disk full" in err
    root = session_dir(tmp_path / "out")
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam = next(s for s in v["streams"] if s["stream_id"] == "cam")
    assert cam["frames"] > 10 and cam["gaps"] == 0 and cam["bad_sizes"] == 0
    for rec_, frame in SessionReader(root).stream("cam").frames():
        assert read_stamp(frame) == rec_["seq"]


def test_a_slow_viewer_does_not_slow_the_recording(tmp_path, zctx):
    from mestudio.stream.bus import Endpoints, Subscriber

    rig = write_config(
        tmp_path / "rig.toml", SMALL_RIG.replace("heartbeat_s = 0.2", "heartbeat_s = 0.2\nviewer_hwm = 4")
    )
    proc = start_run(rig, tmp_path / "out", "--duration", "4")
    root = session_dir(tmp_path / "out")
    wait_recording(root, "cam", 10)
    sub = Subscriber(zctx, Endpoints.load(root), ["cam"], hwm=2)
    seen = []
    try:
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            m = sub.recv(0.5)
            if m is not None:
                seen.append(m.header.seq)
                time.sleep(0.1)  # a viewer ten times too slow
    finally:
        sub.close()
    code, out, err = stop(proc, sig=0)
    assert code == 0, err
    assert len(seen) >= 5 and np.diff(seen).max() > 1  # the viewer lost frames...
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam = next(s for s in v["streams"] if s["stream_id"] == "cam")
    assert cam["gaps"] == 0 and cam["unrecorded"] == 0  # ...the recording did not


def test_bad_inputs_give_one_line_and_nonzero_exit(tmp_path, rig):
    bad = write_config(tmp_path / "bad.toml", SMALL_RIG.replace("fps = 60", "fps = -1"))
    for args, words in [
        ((str(bad),), "devices[0].fps: Input should be greater than 0"),
        ((str(tmp_path / "missing.toml"),), "no such config file"),
        ((str(rig), "--duration", "0"), "--duration must be positive"),
    ]:
        r = mestudio("run", *args, "--out", str(tmp_path / "out"))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert words in r.stderr
    for section, words in [
        ("[sync]\nenabeld = true\n", "[sync]: enabeld: unknown key"),
        ("[analyzer]\nmethod = 'xyz'\n", "[analyzer]: method: Input should be"),
        ("[elicit]\nenabled = true\nprotocol = 'nope.toml'\n", "[elicit] protocol: nope.toml"),
    ]:
        stage = write_config(tmp_path / "stage.toml", SMALL_RIG + section)
        r = mestudio("run", str(stage), "--out", str(tmp_path / "out"))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert words in r.stderr and str(stage) in r.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = mestudio("run", str(rig), "--out", str(blocker / "sessions"))
    assert r.returncode == 2 and "cannot create a session in" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_device_that_cannot_start_fails_the_session_with_its_reason(tmp_path):
    cfg = write_config(
        tmp_path / "c.toml", SMALL_RIG + '\n[[devices]]\nname = "gone"\nkind = "opencv"\nsource = "/nonexistent.avi"\n'
    )
    r = mestudio("run", str(cfg), "--duration", "2", "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode != 0
    assert "gone (device)" in r.stderr
    root = session_dir(tmp_path / "out")
    assert manifest(root)["status"] == "failed"


def test_operator_can_stop_and_restart_recording(tmp_path, rig, zctx):
    import zmq

    from mestudio.stream import wire
    from mestudio.stream.bus import Endpoints

    proc = start_run(rig, tmp_path / "out", "--duration", "120")  # stopped below, once everything happened
    root = live_session_dir(tmp_path / "out")
    wait_recording(root, "cam", 10)
    eps = Endpoints.load(root)
    push = zctx.socket(zmq.PUSH)
    push.linger = 1000
    push.connect(eps.commands)
    cam = zctx.socket(zmq.SUB)  # a viewer: sees the camera's sequence numbers while recording is paused
    cam.linger = 0
    cam.subscribe(b"cam")
    cam.connect(eps.pubs["cam"])

    def command(i: int, verb: str, then: str) -> None:
        wire.send(push, wire.json_parts(wire.Kind.EVENT, "monitor", i, {"note": verb}, topic=f"command/{verb}"))
        assert wait_for(lambda: any(e["topic"] == then for e in events(root)), 120), f"no {then} after {verb}"

    def next_frame() -> wire.Header:
        assert cam.poll(30_000), "the camera stopped publishing"
        return wire.recv(cam).header

    try:
        command(0, "mark", "command/mark")
        command(1, "record-stop", "recorder/paused")
        paused_ns = next(e["host_time_ns"] for e in events(root, "recorder/paused"))
        while (h := next_frame()).host_time_ns < paused_ns:  # frames queued in this viewer before the pause
            pass
        first = h.seq
        while next_frame().seq < first + 60:  # a second of the camera's frames is published while paused
            pass
        command(2, "record-start", "recorder/resumed")
    finally:
        push.close()
        cam.close()
    code, out, err = stop(proc)
    assert code == 0, err
    topics = [e["topic"] for e in SessionReader(root).events()]
    for t in ["command/mark", "command/record-stop", "recorder/paused", "command/record-start", "recorder/resumed"]:
        assert t in topics
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam_report = next(s for s in v["streams"] if s["stream_id"] == "cam")
    # what the recording lacks is exactly what the recorder skipped while paused, and nothing was lost
    # (how many: the frames that reached the recorder in between, fewer when it ran behind)
    assert 0 < cam_report["skipped_while_paused"] == cam_report["gaps"]
    assert cam_report["unrecorded"] == 0 and v["ok"]
