"""What `mestudio run` refuses before any session folder exists: one line, exit 2, nothing written."""

from __future__ import annotations

import socket

import pytest

from mestudio.config.loader import load_session_config
from mestudio.session_run import run_session
from mestudio.stream.curve import create_keys
from mestudio.stream.errors import ConsentError, SessionError
from mestudio.stream.replayer import Replayer
from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_writer import SessionWriter
from tests.conftest import SMALL_RIG, mestudio, write_config


def _refused(tmp_path, body: str) -> str:
    cfg = write_config(tmp_path / "c.toml", body)
    r = mestudio("run", str(cfg), "--duration", "1", "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and str(cfg) in r.stderr
    assert not (tmp_path / "out").exists()  # no folder, so none left saying "recording"
    return r.stderr


@pytest.fixture
def busy_port():
    """A port some other program listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


def _tcp(tmp_path, port: int) -> str:
    create_keys(tmp_path / "keys")
    keys = tmp_path / "keys"
    return SMALL_RIG.replace("[transport]", f'[transport]\nscheme = "tcp"\nbase_port = {port}\nkeys = "{keys}"')


def test_a_port_in_use_is_refused_before_the_session_folder(tmp_path, busy_port):
    err = _refused(tmp_path, _tcp(tmp_path, busy_port))
    assert f"[transport] base_port: port {busy_port} on 127.0.0.1 is in use" in err


def test_a_port_taken_after_preflight_leaves_no_session_folder(tmp_path, busy_port):
    # the control socket is the second port: the supervisor's own bind fails, after the folder was made
    cfg = write_config(tmp_path / "c.toml", _tcp(tmp_path, busy_port - 1))
    with pytest.raises(SessionError, match="cannot listen for the session's nodes"):
        run_session(load_session_config(cfg), cfg.read_text(), out=tmp_path / "out", duration_s=1)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_session_with_no_devices_is_refused(tmp_path):
    assert "devices: no [[devices]] section" in _refused(tmp_path, '[session]\nname = "t"\n')
    off = SMALL_RIG.replace('kind = "synthetic-camera"', 'kind = "synthetic-camera"\nenabled = false')
    off = off.replace('kind = "synthetic-audio"', 'kind = "synthetic-audio"\nenabled = false')
    assert "every [[devices]] section has enabled = false" in _refused(tmp_path, off)


def test_an_analyzer_stream_no_device_publishes_is_refused(tmp_path):
    err = _refused(tmp_path, SMALL_RIG + '\n[analyzer]\nenabled = true\nstream = "face"\n')
    assert "[analyzer] stream: no enabled device publishes a stream 'face' (streams of this session: cam, mic)" in err


def _session(tmp_path, consent: str):
    root = tmp_path / consent
    root.mkdir()
    write_json_atomic(root / "manifest.json", {"format": "mestudio-session", "status": "complete", "consent": consent})
    w = SessionWriter(root)
    w.stream("cam", "|u1", (4, 4), "mono8").append(0, None, 1, bytes(16))
    w.close()
    return root


def test_consent_none_refuses_replay(tmp_path):
    root = _session(tmp_path, "none")
    with pytest.raises(ConsentError, match="consent level 'none'"):
        Replayer(root)
    r = mestudio("replay", str(root), "--max")
    assert r.returncode == 3 and "consent level 'none'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    rep = Replayer(_session(tmp_path, "research"))  # the other levels replay
    rep.close()
    rep.endpoints.remove_ipc_files()
