"""The window's operator actions against a real `mestudio run`: supervisor, recorder, devices."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pyqtgraph")

from mestudio.stream.bus import wait_for
from tests.conftest import ROOT, SMALL_RIG, write_config
from tests.monitor_fixtures import live_window
from tests.session_helpers import live_session_dir, start_run, stop, wait_recording

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def test_record_stop_start_mark_and_end_session_from_the_window(tmp_path):
    cfg = write_config(tmp_path / "rig.toml", SMALL_RIG)
    proc = start_run(cfg, tmp_path / "out", "--duration", "60")
    try:
        root = live_session_dir(tmp_path / "out")
        wait_recording(root, "cam", 10)
        with live_window(root) as live:
            win, pumped = live.win, live.pumped
            assert live.target.kind == "session" and live.target.live
            assert wait_for(pumped(lambda: "cam" in win.tiles.tiles), 20)
            win.buttons["record"].click()  # the supervisor echoes it; the window follows the echo
            assert wait_for(pumped(lambda: win.state.recording_paused), 10)
            assert "NOT RECORDING" in win.rec.text() or wait_for(pumped(lambda: "NOT RECORDING" in win.rec.text()), 3)
            win.buttons["record"].click()
            assert wait_for(pumped(lambda: not win.state.recording_paused), 10)
            win.buttons["mark"].click()
            assert wait_for(pumped(lambda: len(win.state.marks) == 1), 10)
            assert win.command("stop-session", confirm=False)
            proc.wait(timeout=60)  # the session ends by itself on stop-session, no signal
            code, out, err = stop(proc)
            assert wait_for(pumped(lambda: win.state.session_stopped), 10)
    finally:
        if proc.poll() is None:
            stop(proc)
    assert code == 0, err[-2000:]
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    topics = [e["topic"] for e in events]
    for t in (
        "command/record-stop",
        "command/record-start",
        "command/mark",
        "command/stop-session",
        "recorder/paused",
        "recorder/resumed",
    ):
        assert t in topics, f"{t} not recorded"
    mark = next(e for e in events if e["topic"] == "command/mark")
    assert mark["body"]["from"].startswith("monitor-") and "session_s" in mark["body"]


def test_start_and_pause_the_protocol_from_the_window(tmp_path):
    """elicit/node.py takes the window's `start`, `pause` and `resume`; its state drives the button."""
    body = (
        SMALL_RIG
        + f"""
[elicit]
enabled = true
protocol = "{ROOT / "config" / "demo-protocol.toml"}"
headless = true
simulate_participant = true
"""
    )
    cfg = write_config(tmp_path / "rig.toml", body)
    proc = start_run(cfg, tmp_path / "out", "--duration", "90")
    try:
        root = live_session_dir(tmp_path / "out")
        with live_window(root) as live:
            win, pumped = live.win, live.pumped
            # the protocol waits on its instructions until the operator starts it
            assert wait_for(pumped(lambda: win.state.elicit.get("state") == "ready"), 60), win.state.elicit
            assert wait_for(pumped(lambda: win.buttons["protocol"].text().startswith("Start")), 5)
            win.buttons["protocol"].click()
            assert wait_for(pumped(lambda: win.state.elicit.get("state") not in (None, "ready")), 20), win.state.elicit
            assert wait_for(pumped(lambda: win.buttons["protocol"].text().startswith("Pause")), 5)
            win.buttons["protocol"].click()
            assert wait_for(pumped(lambda: win.state.protocol_paused), 20), win.state.elicit
            assert wait_for(pumped(lambda: "PAUSED" in win.protocol.text()), 5)
            win.buttons["protocol"].click()
            assert wait_for(pumped(lambda: not win.state.protocol_paused), 20)
            assert win.command("stop-session", confirm=False)
            proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            stop(proc)
    topics = [json.loads(line)["topic"] for line in (root / "events.jsonl").read_text().splitlines()]
    assert "command/start" in topics and "command/pause" in topics and "markers/elicit" in topics
