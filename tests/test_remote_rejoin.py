"""A `mestudio node` process killed on its capture PC does not cost the session its stream: run
again (or kept alive by ``--keep-alive``), it rejoins where the recording stopped; a second one
while the first is alive is refused.

Real processes on one PC (loopback CURVE tcp, as test_remote_restart.py); the node is killed with
SIGKILL, as the OOM killer does.  Ground truth: the synthetic camera stamps each frame with its
open's own count, which starts again at 0 in every new process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import psutil
import pytest

from mestudio.capture.pattern import read_stamp
from mestudio.stream import messages
from mestudio.stream.curve import create_keys
from mestudio.stream.session import INDEX_DTYPE
from mestudio.stream.session_reader import SessionReader
from tests.conftest import mestudio, write_config
from tests.session_helpers import (
    events,
    manifest,
    remote_rig_template,
    session_dir,
    start_node,
    start_run,
    stop,
    wait_recording,
)

RIG = remote_rig_template("rj")


@pytest.mark.parametrize(
    "topic, body",
    [
        ("control/cam2", {"name": "cam2", "instance": "../x"}),
        ("control/cam2", {"name": "cam2", "instance": "a" * 65}),
        ("control/cam2", {"name": "cam2", "instance": "ok", "replaces": "/etc/passwd"}),
        ("control/cam2", {"name": "cam2", "instance": "ok", "joining": "yes please"}),
        ("control/cam2", {"name": "cam2", "instance": "ok", "replaced_exit": "x" * 201}),
        ("session/node-join", {"node": "cam2"}),
        ("session/node-join", {"node": "../x", "instance": "ok", "admitted": True}),
        ("session/node-join", {"node": "cam2", "instance": "ok", "admitted": True, "seq_base": {"cam2": -1}}),
        ("session/node-join", {"node": "cam2", "instance": "ok", "admitted": True, "seq_base": {"a/b": 1}}),
        ("session/node-join", {"node": "cam2", "instance": "ok", "restart": -1}),
    ],
)
def test_a_join_or_its_answer_with_a_bad_field_is_rejected_with_one_line(topic, body):
    """Joins and answers are untrusted: a bad one is a counted reject, never a seq_base or a path."""
    with pytest.raises(messages.MessageError) as e:
        messages.parse_body(topic, body)
    assert e.value.kind == "body-invalid" and "\n" not in str(e.value) and isinstance(e.value, ValueError)


def test_a_good_join_and_answer_pass():
    beat = messages.parse_body("control/cam2", {"name": "cam2", "instance": "9f3a", "joining": True, "replaces": "77"})
    assert isinstance(beat, messages.Heartbeat) and beat.instance == "9f3a" and beat.replaces == "77"
    body = {"node": "cam2", "instance": "9f3a", "admitted": True, "restart": 2, "seq_base": {"cam2": 120}}
    ans = messages.parse_body("session/node-join", body)
    assert isinstance(ans, messages.JoinAnswer) and ans.seq_base == {"cam2": 120} and ans.restart == 2


def _rig(tmp_path, **fields):
    """remote_rig's session file, on ports below the kernel's ephemeral range (32768 and up here):
    a rejoining node binds its device's port again, which another program's outgoing connection
    may have been given meanwhile on a busy machine (a lab's 5550 is below it too)."""
    from mestudio.config.errors import ConfigError
    from mestudio.config.loader import load_session_config
    from mestudio.preflight import check_ports
    from mestudio.session_plan import plan_nodes, producer_names

    keys = tmp_path / "keys"
    create_keys(keys, ["pc2"])
    text = RIG.format(keys=keys, **fields)
    for base in [*range(20000 + os.getpid() % 250 * 40, 32700, 40), *range(20000, 32700, 40)]:
        cfg = write_config(tmp_path / "rig.toml", text.replace("BASE", str(base)))
        try:
            check_ports(load_session_config(cfg), "rig", producer_names(plan_nodes(load_session_config(cfg))))
            return cfg
        except ConfigError:
            continue
    raise RuntimeError("no free ports below 32700")


def _frames(root, stream: str) -> int:
    idx = root / "streams" / stream / "index.bin"
    return idx.stat().st_size // INDEX_DTYPE.itemsize if idx.exists() else 0


def _wait_for(what: str, cond, timeout_s: float = 60):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise TimeoutError(what)


def _recording_from(node: subprocess.Popen, root, frames: int) -> None:
    """Wait for ``frames`` of cam2; if they never come, fail with what the node process said."""
    try:
        wait_recording(root, "cam2", frames, timeout_s=60)
    except TimeoutError:
        node.kill()
        out, err = node.communicate(timeout=30)
        raise AssertionError(f"cam2's node sent no frames: exit {node.returncode}\n{out}\n{err}") from None


def _restarted(root, n: int) -> list[dict]:
    return _wait_for(f"{n} node-restarted", lambda: len(events(root, "session/node-restarted")) >= n and events(root))


def _check_one_outage(root) -> dict:
    """One restart of cam2 on the timeline and in verify, its frames numbered on without a gap."""
    m = manifest(root)
    [restart] = [r for r in m["restarts"] if r["node"] == "cam2"]
    assert restart["rejoined"] and restart["restart"] == 1, restart
    base = restart["seq_base"]["cam2"]
    topics = [e["topic"] for e in SessionReader(root).events() if e.get("body", {}).get("node") == "cam2"]
    assert [t for t in topics if t in ("session/node-down", "session/node-restarted")] == [
        "session/node-down",
        "session/node-restarted",
    ]
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam2 = next(s for s in v["streams"] if s["stream_id"] == "cam2")
    assert cam2["gaps"] == 0 and cam2["seq_out_of_order"] == 0, cam2
    [outage] = cam2["outages"]
    assert outage["from_seq"] == base and outage["gap_s"] > 0, outage
    assert cam2["frames"] == cam2["published"], cam2  # the new process's END counts the old one's frames
    # ground truth: the frames before the kill are the first process's (stamps 0..base-1), those after
    # are the new process's own, counted from 0 at seq_base
    reader = SessionReader(root).stream("cam2")
    seqs = reader.index["seq"].astype(np.int64)
    assert np.all(np.diff(seqs) == 1) and seqs[0] == 0 and base > 0 and seqs[-1] > base
    for rec, frame in reader.frames():
        assert read_stamp(frame) == (rec["seq"] if rec["seq"] < base else rec["seq"] - base)
    assert not any(s["outages"] for s in v["streams"] if s["stream_id"] == "cam")
    return m


@pytest.mark.slow
def test_a_killed_node_run_again_rejoins_and_a_second_one_alive_is_refused(tmp_path):
    cfg = _rig(tmp_path, restarts=2, timeout=2.0)  # its death is noticed by its silence
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        first = start_node(cfg, "cam2", "--client", "pc2")
        wait_recording(root, "cam2", 30, timeout_s=60)
        # a second process for the same device while the first is alive: refused, the first goes on
        twin = start_node(cfg, "cam2", "--client", "pc2")
        out, err = twin.communicate(timeout=60)
        assert twin.returncode == 1 and len(err.strip().splitlines()) == 1, err
        assert "refused by the session: a node named 'cam2' is already running in this session" in err
        assert first.poll() is None
        refused = _wait_for("the refusal on the timeline", lambda: events(root, "session/node-refused"))
        assert [e["body"]["pid"] for e in refused] == [twin.pid]
        first.kill()  # as the OOM killer does: no last heartbeat, no END
        first.wait()
        before = _frames(root, "cam2")
        again = start_node(cfg, "cam2", "--client", "pc2")
        _restarted(root, 1)
        _recording_from(again, root, before + 30)  # a second of the new process's frames
    finally:
        code, out, err = stop(proc)
    again_out, again_err = again.communicate(timeout=60)
    assert again.returncode == 0 and again_err == "", again_err
    assert "rejoined (restart 1" in again_out, again_out
    assert "refused a second cam2 node" in err and "cam2 (remote) rejoined (restart 1)" in err
    m = _check_one_outage(root)
    assert m["nodes"]["cam2"]["exit"] == "stopped" and m["nodes"]["cam2"]["restarts"] == 1
    assert m["status"] == "complete", m["problems"]  # the death was reported and made good


@pytest.mark.slow
def test_a_node_stopped_on_its_host_and_run_again_rejoins_at_once(tmp_path):
    # a 30 s heartbeat timeout: its last heartbeat, not its silence, lets the next one in
    cfg = _rig(tmp_path, restarts=2, timeout=30.0)
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        first = start_node(cfg, "cam2", "--client", "pc2")
        wait_recording(root, "cam2", 30, timeout_s=60)
        first.send_signal(signal.SIGTERM)  # someone closed its terminal
        first.communicate(timeout=60)
        assert first.returncode == 0
        before = _frames(root, "cam2")
        again = start_node(cfg, "cam2", "--client", "pc2")
        _restarted(root, 1)
        _recording_from(again, root, before + 30)
    finally:
        code, out, err = stop(proc)
    again_out, again_err = again.communicate(timeout=60)
    assert again.returncode == 0 and "rejoined (restart 1" in again_out, again_err
    assert "cam2 (remote device on 127.0.0.1) stopped before it was asked to" in err
    m = _check_one_outage(root)
    assert m["restarts"][0]["exit"] == "stopped on its host" and m["status"] == "complete", m["problems"]


@pytest.mark.slow
def test_a_frozen_node_is_never_written_beside(tmp_path):
    """A node frozen (SIGSTOP: a stalled PC) long enough to be replaced: the new process on its PC
    cannot take the device's port and says so in one line; the frozen one, woken, is told to stop,
    and nothing is numbered twice."""
    cfg = _rig(tmp_path, restarts=2, timeout=2.0)
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        first = start_node(cfg, "cam2", "--client", "pc2")
        wait_recording(root, "cam2", 30, timeout_s=60)
        frozen = psutil.Process(first.pid)
        frozen.suspend()
        again = start_node(cfg, "cam2", "--client", "pc2")
        out, err = again.communicate(timeout=60)  # admitted once the frozen one was silent for 2 s
        assert again.returncode == 1 and len(err.strip().splitlines()) == 1, err
        assert "cannot bind this node's viewer port" in err and "still running, frozen, on this PC" in err
        frozen.resume()
        first_out, first_err = first.communicate(timeout=60)  # its next beat gets it told to stop
        assert first.returncode == 0, first_err
    finally:
        code, out, err = stop(proc)
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    cam2 = next(s for s in v["streams"] if s["stream_id"] == "cam2")
    # (the ticks its camera missed while frozen are a gap at the source, counted as such)
    assert cam2["seq_out_of_order"] == 0 and cam2["frames"] == cam2["published"], cam2
    assert np.all(np.diff(SessionReader(root).stream("cam2").index["seq"].astype(np.int64)) > 0)
    assert manifest(root)["nodes"]["cam2"]["exit"] == "stopped on its host before its device was open", err
    assert "did not stop within" not in err


@pytest.mark.slow
def test_a_node_waiting_to_rejoin_when_the_session_stops_exits_cleanly(tmp_path):
    # the killed one is taken for dead only after 30 s of silence: the new one waits for that
    cfg = _rig(tmp_path, restarts=2, timeout=30.0)
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        first = start_node(cfg, "cam2", "--client", "pc2")
        wait_recording(root, "cam2", 30, timeout_s=60)
        first.kill()
        first.wait()
        again = start_node(cfg, "cam2", "--client", "pc2")
        _wait_for("its wait on the timeline", lambda: events(root, "session/node-waiting"))
    finally:
        code, out, err = stop(proc)
    again_out, again_err = again.communicate(timeout=60)
    assert again.returncode == 0 and again_err == "", again_err
    assert "refused by the session: the session is stopping" in again_out, again_out
    assert not events(root, "session/node-restarted")
    # the killed one was not silent for 30 s yet: as far as the session knows, it did not stop
    assert manifest(root)["nodes"]["cam2"]["exit"] == "did not stop"


def _keeper_child(keeper: subprocess.Popen, other_than: int = 0) -> psutil.Process:
    def found():
        kids = [c for c in psutil.Process(keeper.pid).children() if c.pid != other_than]
        return kids[0] if kids and kids[0].status() != psutil.STATUS_ZOMBIE else None

    return _wait_for("the keeper's node process", found)


def _keeper_node_killed_once(cfg, root) -> tuple[subprocess.Popen, psutil.Process, int]:
    """`mestudio node --keep-alive` recording; its node process SIGKILLed and the session's first
    restart on the timeline: (the keeper, the killed process, frames recorded before)."""
    keeper = start_node(cfg, "cam2", "--client", "pc2", "--keep-alive")
    wait_recording(root, "cam2", 30, timeout_s=60)
    child = _keeper_child(keeper)
    child.kill()
    before = _frames(root, "cam2")
    _restarted(root, 1)
    return keeper, child, before


@pytest.mark.slow
def test_keep_alive_starts_a_killed_node_again_and_stops_with_the_session(tmp_path):
    # a long heartbeat timeout: the session must take the new process back because it names the
    # dead one, not because the dead one fell silent
    cfg = _rig(tmp_path, restarts=2, timeout=30.0)
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        keeper, child, before = _keeper_node_killed_once(cfg, root)
        _keeper_child(keeper, other_than=child.pid)
        _recording_from(keeper, root, before + 30)
    finally:
        code, out, err = stop(proc)
    k_out, k_err = keeper.communicate(timeout=60)
    assert keeper.returncode == 0 and k_err == "", k_err
    assert "the node process killed by signal SIGKILL; starting it again in 0.2 s (restart 1 of 2)" in k_out
    # the keeper named the dead process: the session took the new one back without waiting for silence
    assert "sent no heartbeat" not in err and "process killed by signal SIGKILL; its keeper started it again" in err
    m = _check_one_outage(root)
    assert m["nodes"]["cam2"]["exit"] == "stopped" and m["status"] == "complete", m["problems"]


@pytest.mark.slow
def test_keep_alive_gives_up_past_the_sessions_restarts_with_one_line(tmp_path):
    cfg = _rig(tmp_path, restarts=1, timeout=2.0)
    proc = start_run(cfg, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        keeper, child, before = _keeper_node_killed_once(cfg, root)
        _recording_from(keeper, root, before + 10)  # the second process is running: kill it too
        _keeper_child(keeper, other_than=child.pid).kill()
        k_out, k_err = keeper.communicate(timeout=60)
        # nobody starts it again now: the session notices its silence
        _wait_for("the silence reported", lambda: "sent no heartbeat" in str(events(root, "session/problem")))
    finally:
        code, out, err = stop(proc)
    assert keeper.returncode == 1 and len(k_err.strip().splitlines()) == 1, k_err
    assert "cam2: the node process killed by signal SIGKILL (restarts used: 1 of 1)" in k_err
    m = manifest(root)
    assert m["nodes"]["cam2"]["exit"].startswith("died on its host: sent no heartbeat for"), m["nodes"]
    assert [r["restart"] for r in m["restarts"]] == [1]
    assert m["status"] == "failed" and code != 0
