"""The real window, offscreen: fed by a publishing session, screenshots saved and checked."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

pytest.importorskip("pyqtgraph")

from mestudio.monitor.feed import LiveFeed
from mestudio.monitor.operator import CommandSender
from mestudio.monitor.qt import application, shutdown
from mestudio.monitor.target import Target
from mestudio.monitor.window import MonitorWindow
from mestudio.stream.bus import wait_for
from tests.monitor_fixtures import PublishingSession, has_colour, not_blank, read_png, region, saved_copy

pytestmark = pytest.mark.gui

GREEN_LANDMARKS = (80, 255, 170)
ROI_ORANGE = (255, 176, 32)
ACCENT = (61, 126, 255)
RED = (255, 90, 95)
MARK = (199, 146, 234)


def pump(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


@pytest.fixture
def opened(tmp_path):
    app = application()
    session = PublishingSession(tmp_path / "s", fps=30)
    ctx = zmq.Context()
    feed = LiveFeed(session.endpoints, context=ctx).start()
    cmds = CommandSender(session.endpoints, ctx)
    session.start()  # after the window's socket is connected: it sees the one-off messages too
    win = MonitorWindow(
        Target("session", "window test", session.endpoints, tmp_path, session.t0_ns), feed, cmds, fps=25
    )
    win.resize(1600, 1000)
    win.show()
    yield app, win, session
    win.stop()
    shutdown(app, win)
    feed.close()
    cmds.close()
    ctx.term()
    session.close()


@pytest.mark.slow
def test_every_panel_is_drawn_and_keeps_updating(opened, tmp_path):
    app, win, session = opened
    assert wait_for(lambda: (app.processEvents(), win.state.intervals and len(win.tiles.tiles) == 3)[1], 15)
    pump(app, 0.5)
    first = win.save_screenshot(tmp_path / "monitor-1.png")
    pump(app, 1.5)
    second = win.save_screenshot(tmp_path / "monitor-2.png")
    saved_copy(second)
    a, b = read_png(first), read_png(second)
    assert a.shape == (1000, 1600, 3) and not_blank(a) and not_blank(b)

    tiles = {sid: t.view for sid, t in win.tiles.tiles.items()}
    assert set(tiles) == {"face", "kinect-color", "kinect-depth"}
    for sid, view in tiles.items():
        r = win.tiles.mapFromScene(view.sceneBoundingRect()).boundingRect()
        p = win.tiles.mapTo(win, r.topLeft())
        pixels = b[p.y() : p.y() + r.height(), p.x() : p.x() + r.width()]
        assert pixels.shape[0] > 100 and not_blank(pixels, min_colours=10), f"tile {sid} is blank"
    tiles_a, tiles_b = region(a, win, win.tiles), region(b, win, win.tiles)
    assert not np.array_equal(tiles_a, tiles_b), "video tiles did not change between screenshots"
    assert has_colour(tiles_b, GREEN_LANDMARKS, tol=30, min_pixels=20), "no face landmarks drawn"
    assert has_colour(tiles_b, ROI_ORANGE, tol=30, min_pixels=20), "no ROI boxes drawn"
    # depth as a colour map: strongly coloured pixels (the grey camera and a photo have few)
    rgb = tiles_b.astype(int)
    assert int(((rgb[..., 0] - rgb[..., 2]) > 120).sum()) > 2000

    score_a, score_b = region(a, win, win.score), region(b, win, win.score)
    assert has_colour(score_b, ACCENT) and has_colour(score_b, ROI_ORANGE), "no score curve or threshold"
    assert not np.array_equal(score_a, score_b), "score trace did not move"
    aus = region(b, win, win.aus)
    assert has_colour(aus, ACCENT) or has_colour(aus, RED), "no AU bars"
    assert win.aus.emotion.text() == "negative"

    health = win.health
    rows = {health.item(r, 0).text(): r for r in range(health.rowCount())}
    assert set(rows) == {"face", "kinect-color", "kinect-depth", "mic"}
    assert float(health.item(rows["face"], 2).text()) > 10
    assert health.item(rows["face"], 6).text() == "+0.42"  # sync offset from sync/health
    assert "dBFS" in health.item(rows["mic"], 9).text()
    assert not_blank(region(b, win, health))
    log = win.log.toPlainText()
    assert "spotted micro" in log and "clip_onset disgust-02" in log
    assert "REC" in win.rec.text() and "disgust-02 (3/11)" in win.protocol.text()
    assert "analyzer started on face" in log and "face acquired" in log
    assert win.latency_ms()["face"] > 0


def test_mark_button_sends_a_command_and_the_mark_appears_on_the_timeline(opened, tmp_path):
    app, win, session = opened
    assert wait_for(lambda: (app.processEvents(), len(win.tiles.tiles) == 3)[1], 15)
    assert wait_for(lambda: (app.processEvents(), win.buttons["mark"].click(), session.received_commands)[2], 5)
    assert session.received_commands[0].topic == "command/mark"
    assert wait_for(lambda: (app.processEvents(), len(win.state.marks) > 0)[1], 5)
    pump(app, 0.3)
    shot = read_png(win.save_screenshot(tmp_path / "monitor-mark.png"))
    assert has_colour(region(shot, win, win.score), MARK, tol=30, min_pixels=20), "mark line not drawn"
    assert "operator: mark" in win.log.toPlainText()
    for button, verb, label in (
        ("protocol", "pause", "Resume protocol"),
        ("record", "record-stop", "Resume recording"),
    ):
        win.buttons[button].click()
        assert wait_for(lambda v=verb: any(c.topic == f"command/{v}" for c in session.received_commands), 5)
        assert wait_for(lambda b=button, t=label: (app.processEvents(), win.buttons[b].text().startswith(t))[1], 5)
    assert "NOT RECORDING" in win.rec.text()
    win.buttons["record"].click()
    assert wait_for(lambda: any(c.topic == "command/record-start" for c in session.received_commands), 5)


def test_a_replay_target_has_no_commands_and_no_latency(tmp_path):
    app = application()
    session = PublishingSession(tmp_path / "r", fps=30).start()
    feed = LiveFeed(session.endpoints).start()
    win = MonitorWindow(Target("replay", "r", session.endpoints, None, session.t0_ns), feed, None)
    win.show()
    try:
        assert wait_for(lambda: (app.processEvents(), len(win.tiles.tiles) == 3)[1], 15)
        pump(app, 0.5)
        assert not any(b.isEnabled() for b in win.buttons.values())
        assert win.latency_ns == {}
        assert "REPLAY" in win.rec.text() or "WAITING" in win.rec.text()
    finally:
        win.stop()
        shutdown(app, win)
        feed.close()
        session.close()
