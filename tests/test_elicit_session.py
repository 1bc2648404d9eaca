"""The "elicit" role inside a real session: markers recorded, commands through the supervisor."""

from __future__ import annotations

import json
import os
import time

import pytest

from mestudio.elicit.protocol import load_protocol
from tests.elicit_fixtures import elicit_cli, expected_events, observed_events, wait_waiting_for_operator
from tests.session_helpers import session_dir, start_run

pytestmark = [pytest.mark.gui, pytest.mark.slow]

SESSION = """
[session]
name = "el"
participant = "P03"
[transport]
heartbeat_s = 0.2
[[devices]]
name = "mic"
kind = "synthetic-audio"
rate = 48000
block = 800
[elicit]
enabled = true
protocol = "{protocol}"
headless = true
autostart = false
simulate_participant = true
end_session = true
"""


def test_session_records_markers_and_takes_operator_commands(fast_protocol, tmp_path, no_sound):
    proto_path = fast_protocol(order="counterbalanced")
    cfg = tmp_path / "session.toml"
    cfg.write_text(SESSION.format(protocol=proto_path))
    out = tmp_path / "out"
    env = {**os.environ, **no_sound, "QT_QPA_PLATFORM": "offscreen"}
    proc = start_run(cfg, out, "--duration", "60", env=env)
    try:
        root = session_dir(out)
        events = root / "events.jsonl"
        recs = wait_waiting_for_operator(lambda: events)  # the node waits for the operator
        assert not [r for r in recs if r["topic"] == "markers/elicit" and r["body"]["event"] == "session_start"]
        r = elicit_cli("--send", "start", "--session", str(root), timeout=30)
        assert r.returncode == 0, r.stderr
        out_text, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    recs = [json.loads(line) for line in events.read_text().splitlines()]
    marks = [r for r in recs if r["topic"] == "markers/elicit"]
    assert observed_events(marks) == expected_events(load_protocol(proto_path), "P03")
    start = [r for r in marks if r["body"]["event"] == "session_start"][0]["body"]
    assert start["source"].startswith("command:") and start["order"] == ["two", "one"]
    chirps = [r for r in recs if r["topic"] == "sync/request-chirp"]
    onsets = [r for r in marks if r["body"]["event"] == "clip_onset"]
    assert [c["host_time_ns"] for c in chirps] == [o["host_time_ns"] for o in onsets]
    assert any(r["topic"] == "state/elicit" and r["body"]["state"] == "clip" for r in recs)
    assert any(r["topic"] == "command/start" for r in recs)  # the supervisor recorded the command
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["nodes"]["elicit"]["exit"] == "exited with code 0"


def test_standalone_elicit_attaches_to_a_running_session(fast_protocol, tmp_path, no_sound):
    cfg = tmp_path / "session.toml"
    cfg.write_text(SESSION.format(protocol="unused").split("[elicit]")[0])
    out = tmp_path / "out"
    env = {**os.environ, **no_sound, "QT_QPA_PLATFORM": "offscreen"}
    proc = start_run(cfg, out, "--duration", "60", env=env)
    try:
        root = session_dir(out)
        end = time.monotonic() + 20
        while time.monotonic() < end and not (root / "bus.json").exists():
            time.sleep(0.1)
        r = elicit_cli(
            str(fast_protocol(break_s=0.3)),
            "--headless",
            "--autostart",
            "--simulate-participant",
            "--hold-end",
            "0",
            "--session",
            str(root),
            env=no_sound,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        proc.terminate()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    recs = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    marks = [r for r in recs if r["topic"] == "markers/elicit"]
    assert observed_events(marks) == expected_events(load_protocol(next(tmp_path.glob("fast-*.toml"))), "P00")
    assert not list(tmp_path.glob("**/elicit_*.jsonl"))  # inside a session: no standalone file
