"""Every message is untrusted: rejected where it is received, counted per kind, logged once per
kind, and nothing already recorded is lost (the fuzz runs against a real session's sockets)."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import zmq

from mestudio.stream import messages, wire
from mestudio.stream.bus import Endpoints
from mestudio.stream.errors import WireFormatError
from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_reader import SessionReader
from mestudio.stream.session_writer import SessionWriter
from tests.conftest import SMALL_RIG, mestudio, write_config
from tests.fuzz_messages import KINDS
from tests.session_helpers import manifest, session_dir, start_run, stop, wait_recording


def _receive(parts: list[bytes]) -> None:
    """What every receiving socket does: decode, then the topic's body model."""
    msg = wire.decode(parts)
    if msg.kind != wire.Kind.FRAME:
        messages.parse_body(msg.topic, msg.data)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_malformed_kind_is_rejected_with_a_named_reason(kind):
    with pytest.raises(WireFormatError) as e:
        _receive(KINDS[kind])
    assert e.value.kind and "\n" not in str(e.value)
    assert isinstance(e.value, ValueError)  # also the built-in it resembles


def test_valid_messages_of_every_producer_pass():
    frame = wire.frame_parts("rig-0", 3, np.zeros((4, 6), np.uint16), host_time_ns=1, pixel_format="depth16")
    _receive([bytes(p) for p in frame])
    info = messages.StreamInfoBody(stream_id="rig-0", dtype="<u2", shape=[4, 6], pixel_format="depth16", rate_hz=60)
    bodies = [
        (messages.info_topic("rig-0"), info.to_wire()),
        (messages.end_topic("rig-0"), messages.EndBody(frames=10).to_wire()),
        (messages.control_topic("cam"), messages.Heartbeat(name="cam", role="device", pid=5).to_wire()),
        (messages.command_topic("mark"), messages.Command(note="blink", sender="monitor-1").to_wire()),
        (messages.STATE_ELICIT, messages.ElicitState(state="break", step=2, steps=5, break_left_s=3.0).to_wire()),
    ]
    for topic, body in bodies:
        _receive(wire.json_parts(wire.Kind.EVENT, "src", 0, body, topic=topic))
    assert messages.Command.model_validate({"from": "m"}).to_wire()["from"] == "m"


@pytest.mark.parametrize("sid", ["../../x", "/abs/path", "a/b", "..", ""])
def test_the_session_writer_refuses_a_path_for_a_stream_id(tmp_path, sid):
    root = tmp_path / "s"
    root.mkdir()
    write_json_atomic(root / "manifest.json", {"format": "mestudio-session", "status": "recording"})
    w = SessionWriter(root)
    with pytest.raises(ValueError):
        w.stream(sid, "|u1", (2, 2), "mono8")
    w.close()
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["s", "manifest.json", "streams", "events.jsonl"])


def test_rejects_are_logged_once_per_kind_then_counted():
    lines: list[str] = []
    rc = messages.RejectCounter("recorder", lines.append, every_s=3600)
    for i in range(5000):
        rc.reject(WireFormatError("x", kind="utf8" if i % 2 else "parts"))
    assert rc.counts == {"parts": 2500, "utf8": 2500} and len(lines) == 2


@pytest.mark.slow
def test_fuzzing_every_input_socket_of_a_running_session_loses_nothing(tmp_path):
    """>= 10,000 malformed messages of >= 15 kinds to the recorder, control and command sockets."""
    out = tmp_path / "out"
    rig = write_config(tmp_path / "rig.toml", SMALL_RIG)
    proc = start_run(rig, out)
    root = session_dir(out)
    wait_recording(root, "cam", 30)
    ep = Endpoints.load(root)
    per_kind = 100
    for name in ("recorder", "control", "commands"):  # one socket after the other, all delivered
        fuzz = zmq.Context()
        s = fuzz.socket(zmq.PUSH)
        s.sndhwm, s.linger = 0, 30_000
        s.connect(getattr(ep, name))
        for _ in range(per_kind):
            for parts in KINDS.values():
                s.send_multipart(parts)
        if name == "commands":  # a valid command after the fuzz: once it is recorded, all were read
            s.send_multipart(wire.json_parts(wire.Kind.EVENT, "fuzzer", 0, {"note": "fuzz-done"}, topic="command/mark"))
        s.close()
        fuzz.term()  # returns once every message went to the session's socket
    wait_for_event(root, "command/mark")
    sent_each = per_kind * len(KINDS)
    assert 3 * sent_each >= 10_000 and len(KINDS) >= 15
    code, _, err = stop(proc)
    assert code == 0, err
    # counted per kind, and the terminal got about one line per kind, not one per message
    rec = json.loads((root / "recorder.json").read_text())
    assert sum(rec["rejected"].values()) == sent_each and len(rec["rejected"]) >= 8
    m = manifest(root)
    assert m["status"] == "complete" and sum(m["rejected"]["supervisor"].values()) == 2 * sent_each
    assert m["rejected"]["recorder"] == rec["rejected"]
    assert len([ln for ln in err.splitlines() if "rejected" in ln]) <= 4 * len(KINDS)
    # every real frame is there, and nothing was written outside the session folder
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    assert v["ok"], v
    assert v["rejected"]["recorder"] == rec["rejected"] and v["rejected"]["supervisor"] == m["rejected"]["supervisor"]
    for s in v["streams"]:
        assert s["published"] == s["frames"] and s["gaps"] == 0
    assert sorted(SessionReader(root).stream_ids()) == ["cam", "mic"]
    outside = [p for p in tmp_path.rglob("*") if root not in p.parents and p != root]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in outside) == ["out", "rig.toml"]
    assert not os.path.exists("/abs/path")
    topics = [e["topic"] for e in SessionReader(root).events()]
    assert "markers/fuzz" not in topics and topics.count("command/mark") == 1


def wait_for_event(root, topic: str, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if topic in [e["topic"] for e in SessionReader(root).events()]:
            return
        time.sleep(0.1)
    raise TimeoutError(f"no {topic} event recorded in {timeout_s} s")
