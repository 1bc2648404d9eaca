"""CURVE on tcp: keys from `mestudio keys`, an allow-list through ZAP, no plain tcp at all."""

from __future__ import annotations

import json
import stat
import time

import numpy as np
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from mestudio.config.errors import ConfigError
from mestudio.config.loader import load_session_config
from mestudio.stream import wire
from mestudio.stream.bus import Endpoints
from mestudio.stream.curve import CurveKeys, create_keys
from mestudio.stream.session_reader import SessionReader
from tests.conftest import SMALL_RIG, mestudio, write_config
from tests.session_helpers import free_base_port, manifest, session_dir, start_run, stop, wait_recording

FAILED = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
}


@pytest.mark.slow
def test_keys_command_makes_private_pairs_and_an_allow_list(tmp_path):
    d = tmp_path / "keys"
    r = mestudio("keys", str(d), "--client", "pc2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["made"] == ["server", "client", "pc2"] and out["allowed"] == ["client", "pc2"]
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for p in d.glob("*.key_secret"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    keys = CurveKeys.load(d, "pc2")
    assert len(keys.server_public) == 40 and keys.client_public == zmq.auth.load_certificate(d / "pc2.key")[0]
    again = json.loads(mestudio("keys", str(d), "--json").stdout)
    assert again["made"] == [] and CurveKeys.load(d).server_public == keys.server_public  # kept, not replaced
    (d / "pc2.key_secret").chmod(0o644)
    r = mestudio("keys", str(d))
    assert r.returncode == 1 and "readable by other users" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.10.2", "127.0.0.1"])
def test_tcp_without_curve_is_refused_at_config_load(tmp_path, host):
    cfg = write_config(
        tmp_path / "c.toml", SMALL_RIG.replace("[transport]", f'[transport]\nscheme = "tcp"\nhost = "{host}"')
    )
    with pytest.raises(ConfigError, match="without CURVE"):
        load_session_config(cfg)
    r = mestudio("run", str(cfg), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "mestudio keys DIR" in r.stderr
    assert ("NOT loopback" in r.stderr) == (host != "127.0.0.1")
    assert not (tmp_path / "out").exists()


def _client(zctx, kind: int, endpoint: str, keys: CurveKeys | None, secret=None, public=None) -> tuple:
    s = zctx.socket(kind)
    s.linger = 0
    if kind == zmq.SUB:
        s.setsockopt(zmq.SUBSCRIBE, b"")
    if keys is not None:
        s.curve_serverkey = keys.server_public
        s.curve_publickey = public or keys.client_public
        s.curve_secretkey = secret or keys.client_secret
    mon = s.get_monitor_socket()
    s.connect(endpoint)
    return s, mon


def _handshake(mon, timeout_s: float = 20) -> int:
    """The handshake's outcome on a monitored socket: HANDSHAKE_SUCCEEDED or a HANDSHAKE_FAILED_*."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if mon.poll(200):
            ev = recv_monitor_message(mon)["event"]
            if ev == zmq.EVENT_HANDSHAKE_SUCCEEDED or ev in FAILED:
                return ev
    raise TimeoutError("no handshake outcome")


def _events_text(root) -> str:
    p = root / "events.jsonl"
    return p.read_text(errors="replace") if p.exists() else ""


@pytest.mark.slow
def test_only_allowed_clients_can_inject_frames_send_commands_or_watch(tmp_path, zctx):
    keys_dir = tmp_path / "keys"
    create_keys(keys_dir, ["pc2"])
    text = SMALL_RIG.replace("[transport]", f'[transport]\nscheme = "tcp"\nbase_port = BASE\nkeys = "{keys_dir}"')
    rig = write_config(tmp_path / "rig.toml", text.replace("BASE", str(free_base_port(text, tmp_path))))
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    opened = []
    try:
        wait_recording(root, "cam", 10)
        eps = Endpoints.load(root)
        assert eps.recorder.startswith("tcp://127.0.0.1:") and eps.keys == str(keys_dir)
        allowed = CurveKeys.load(keys_dir, "pc2")
        stranger_public, stranger_secret = zmq.curve_keypair()
        frame = wire.frame_parts("evil", 0, np.zeros((4, 4), np.uint8), host_time_ns=wire.now_ns())
        stop_cmd = wire.json_parts(wire.Kind.EVENT, "evil", 0, {}, topic="command/stop-session")
        for who in ("plain", "stranger"):
            curve = {} if who == "plain" else {"secret": stranger_secret, "public": stranger_public}
            for kind, ep, parts in [
                (zmq.PUSH, eps.recorder, frame),
                (zmq.PUSH, eps.commands, stop_cmd),
                (zmq.PUSH, eps.control, stop_cmd),
                (zmq.SUB, eps.pubs["cam"], None),
                (zmq.SUB, eps.broadcast, None),
            ]:
                s, mon = _client(zctx, kind, ep, None if who == "plain" else allowed, **curve)
                opened += [s, mon]
                if parts is not None:
                    try:
                        wire.send(s, parts, zmq.NOBLOCK)  # queued: it can only leave after a handshake
                    except zmq.Again:
                        pass
                assert _handshake(mon) in FAILED, (who, ep)  # the server turned it away
                if kind == zmq.SUB:
                    assert not s.poll(0)
        # a client whose key is allowed: its frames and commands get in, it can watch
        guest = wire.frame_parts("guest", 0, np.full((4, 4), 7, np.uint8), host_time_ns=wire.now_ns())
        mark = wire.json_parts(wire.Kind.EVENT, "pc2", 0, {"note": "allowed"}, topic="command/mark")
        for ep, parts in [(eps.recorder, guest), (eps.commands, mark)]:
            s, mon = _client(zctx, zmq.PUSH, ep, allowed)
            opened += [s, mon]
            assert _handshake(mon) == zmq.EVENT_HANDSHAKE_SUCCEEDED
            wire.send(s, parts)
        sub, mon = _client(zctx, zmq.SUB, eps.pubs["cam"], allowed)
        opened += [sub, mon]
        assert _handshake(mon) == zmq.EVENT_HANDSHAKE_SUCCEEDED
        assert sub.poll(10_000) and wire.recv(sub).header.stream_id == "cam"
        end = time.monotonic() + 20
        while '"allowed"' not in _events_text(root) and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        for s in opened:
            s.close(linger=0)
        code, out, err = stop(proc)
    assert code == 0, err
    m = manifest(root)
    assert m["status"] == "complete"  # the strangers' stop-session never arrived
    reader = SessionReader(root)
    assert "evil" not in reader.stream_ids() and "guest" in reader.stream_ids()
    marks = [e for e in reader.events() if e["topic"] == "command/mark"]
    assert [e["body"]["from"] for e in marks] == ["pc2"]
    assert not [e for e in reader.events() if e["topic"] == "command/stop-session"]


@pytest.mark.slow
def test_curve_bench_reports_the_cost_against_plain_tcp():
    r = mestudio("bench", "curve", "--quick", "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout)
    for name, f in figures.items():
        assert f["curve_session_path"]["lost"] == 0 and f["plain_tcp_raw_pyzmq"]["lost"] == 0, name
        assert f["throughput_ratio"] > 0
