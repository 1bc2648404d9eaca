"""The window shows how far behind the recorder is, from a real `mestudio run` whose recorder
really falls behind: its writes are capped (recorder.write_mb_per_s, a slow disk simulated in the
recorder's own loop) below what the camera produces.  Ground truth: the frames' capture stamps
and the recorder's write stamps in the session's index, read back from disk after the session."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from mestudio.monitor.feed import viewer_endpoints
from mestudio.monitor.state import MonitorState
from mestudio.stream import messages, wire
from mestudio.stream.backlog import BEHIND_S
from mestudio.stream.bus import Endpoints
from mestudio.stream.session_reader import SessionReader
from tests.conftest import slow_recorder_rig

SLOW_RIG = slow_recorder_rig("max_backlog_s = 4.0")


def status_message(body: dict) -> wire.Message:
    return wire.decode(wire.json_parts(wire.Kind.EVENT, "recorder", 1, body, topic=messages.RECORDER_STATUS))


def test_a_bad_recorder_status_is_counted_and_the_last_good_one_kept():
    state = MonitorState(0)
    state.apply(status_message({"v": 1, "backlog_s": 2.5, "behind": True, "streams": {"cam": 2.5}}))
    assert state.recorder is not None and state.recorder.streams == {"cam": 2.5}
    assert any("2.5 s behind" in line for line in state.take_log())
    for bad in ({"backlog_s": -1}, {"backlog_s": "x"}, {"backlog_s": 1, "streams": {"../etc": 1}}, {"v": 99}):
        state.apply(status_message(bad))
    assert state.unreadable == 4 and state.recorder.backlog_s == 2.5
    with pytest.raises(messages.MessageError):
        messages.parse_body(messages.RECORDER_STATUS, {"backlog_s": 1, "streams": {"cam": -2}})


def test_a_session_folder_from_before_the_status_pub_still_opens():
    old = {"recorder": "ipc:///x/r", "control": "", "commands": "", "broadcast": "", "pubs": {"cam": "ipc:///x/c"}}
    assert viewer_endpoints(Endpoints(**old)) == ["ipc:///x/c"]
    new = Endpoints.plan("ipc", "", 0, ["cam"])
    try:
        assert viewer_endpoints(new)[-1] == new.recorder_status and new.recorder_status.endswith("recorder-status")
    finally:
        new.remove_ipc_files()


@pytest.mark.gui
@pytest.mark.slow
def test_the_window_warns_when_the_recorder_falls_behind(tmp_path):
    pytest.importorskip("pyqtgraph")
    from mestudio.monitor.app import window_stats
    from mestudio.monitor.panels import WARN
    from mestudio.monitor.qt import QtGui
    from mestudio.stream.bus import wait_for
    from tests.conftest import write_config
    from tests.monitor_fixtures import has_colour, live_window, read_png, region, saved_copy
    from tests.session_helpers import live_session_dir, start_run, stop, wait_recording

    cfg = write_config(tmp_path / "rig.toml", SLOW_RIG)
    proc = start_run(cfg, tmp_path / "out", "--duration", "60")
    code, err = None, ""
    try:
        root = live_session_dir(tmp_path / "out")
        wait_recording(root, "cam", 5)
        with live_window(root) as live:
            win, pumped = live.win, live.pumped
            behind = lambda: win.state.recorder is not None and win.state.recorder.backlog_s > 1.5 * BEHIND_S  # noqa: E731
            assert wait_for(pumped(behind), 40), f"the window never saw the recorder behind: {win.state.recorder}"
            win.tick()
            win._update_status()  # the status line is redrawn every 5th repaint: draw it now
            shown = win.state.recorder.backlog_s
            assert "RECORDER" in win.backlog.text() and "BEHIND" in win.backlog.text(), win.backlog.text()
            row = win.health._rows["cam"]
            cell = win.health.item(row, 10)
            assert cell is not None and float(cell.text()) > BEHIND_S
            assert cell.foreground().color() == QtGui.QColor(WARN)
            png = win.save_screenshot(tmp_path / "monitor-behind.png")
            saved_copy(png)
            # amber while only behind (a machine stalled for seconds may already show the next stage)
            colour = (0xFF, 0x5A, 0x5F) if "CANNOT" in win.backlog.text() else (0xFF, 0xB0, 0x20)
            assert has_colour(region(read_png(png), win, win.backlog), colour, tol=30, min_pixels=20)
            stats = json.loads(json.dumps(window_stats(win, live.feed, 1.0)))
            assert stats["recorder"]["backlog_s"] > BEHIND_S and stats["recorder"]["streams"]["cam"] > BEHIND_S

            # past recorder.max_backlog_s: the loud stage, in red, with what waits in memory
            assert wait_for(pumped(lambda: win.state.recorder.cannot_keep_up), 40), win.state.recorder
            win._update_status()
            live.app.processEvents()
            assert "CANNOT KEEP UP" in win.backlog.text() and win.state.recorder.queued_mb > 0
            assert win.backlog.width() >= win.backlog.sizeHint().width(), "the warning is cut"
            png = win.save_screenshot(tmp_path / "monitor-cannot-keep-up.png")
            saved_copy(png)
            assert has_colour(region(read_png(png), win, win.backlog), (0xFF, 0x5A, 0x5F), tol=30, min_pixels=20)
            assert any("RECORDER CANNOT KEEP UP" in line for line in win.state.log)
            shown = win.state.recorder.backlog_s
            assert win.command("stop-session", confirm=False)
            proc.wait(timeout=120)  # stopping lifts the simulated slow disk: the queue drains at full speed
            code, _out, err = stop(proc)
    finally:
        if proc.poll() is None:
            stop(proc)
    assert code == 0, err[-2000:]
    # ground truth from disk: each frame's wait from its capture stamp to its write, less the shortest
    index = SessionReader(root).stream("cam").index
    wait_s = (index["recv_time_ns"].astype(np.int64) - index["host_time_ns"].astype(np.int64)) / 1e9
    lag_s = wait_s - wait_s.min()
    assert lag_s.max() > 1.5 * BEHIND_S and shown <= lag_s.max() + 0.01
    report = json.loads((root / "recorder.json").read_text())
    assert report["backlog_max_s"] >= shown and report["streams"]["cam"]["gaps"] == 0
    timeline = list(SessionReader(root).events())
    behind_events = [e for e in timeline if e["topic"] == messages.RECORDER_BEHIND]
    assert behind_events and behind_events[0]["body"]["behind"] is True
    problems = [e["body"]["problem"] for e in timeline if e["topic"] == messages.SESSION_PROBLEM]
    assert any(p.startswith("recorder cannot keep up") for p in problems), problems
    assert report["cannot_keep_up_times"] >= 1


def test_a_shedding_recorder_is_said_in_the_log_the_header_and_the_progress_line():
    from types import SimpleNamespace

    from mestudio.monitor.window import MonitorWindow
    from mestudio.progress import TerminalProgress

    state = MonitorState(0)
    body = {"v": 1, "backlog_s": 20.0, "behind": True, "cannot_keep_up": True, "queued_mb": 900.0}
    state.apply(status_message({**body, "shedding": True}))
    assert any("RECORDER SHEDDING FRAMES: ~900 MB" in line for line in state.take_log())
    header = MonitorWindow.backlog_text(SimpleNamespace(state=state))  # the header's text, from the state alone
    assert "SHEDDING FRAMES" in header and "not written" in header
    state.apply(status_message({**body, "shedding": False, "queued_mb": 300.0}))
    assert any("recorder writes again" in line for line in state.take_log())
    out = SimpleNamespace(isatty=lambda: False, lines=[])
    out.write, out.flush = out.lines.append, lambda: None
    status = {"bytes": 0, "backlog_s": 20.0, "free_mb": 5000, "streams": {}, "shedding": True, "cannot_keep_up": True}
    rec = SimpleNamespace(role="recorder", status=status)
    TerminalProgress(out)(SimpleNamespace(children={"recorder": rec}, started=time.monotonic()))
    assert "SHEDDING FRAMES" in out.lines[0]
