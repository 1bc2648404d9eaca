"""The monitor paints video as it arrives, not at its repaint timer; its latency has stages.

Real sockets (PublishingSession), a real offscreen window.  The repaint timer is set to 1 Hz, so
a window that waited for it would draw about one frame a second: every frame drawn beyond that
was painted because the feed woke the window.
"""

from __future__ import annotations

import time

import pytest
import zmq

from mestudio.monitor.feed import LiveFeed
from mestudio.stream.bus import wait_for
from tests.monitor_fixtures import PublishingSession


@pytest.fixture
def session(tmp_path):
    s = PublishingSession(tmp_path / "s", fps=30, size=(120, 160))
    yield s
    s.close()


def test_the_feed_wakes_its_reader_once_per_snapshot_not_per_frame(session, zctx):
    feed = LiveFeed(session.endpoints, context=zctx)
    wakes: list[int] = []
    feed.on_frame = lambda: wakes.append(feed.received)
    feed.start()
    try:
        session.start()
        assert wait_for(lambda: len(wakes) >= 1, 10)
        # nobody takes the frames: more keep coming, but the reader was told once
        seen = feed.received
        assert wait_for(lambda: feed.received > seen + 20, 10)
        assert len(wakes) == 1
        snap = feed.snapshot()
        assert "face" in snap.frames and snap.arrivals["face"] >= snap.frames["face"].header.host_time_ns
        assert wait_for(lambda: len(wakes) == 2, 10)  # taken: the next picture frame wakes it again
    finally:
        feed.close()


@pytest.mark.slow
def test_frames_are_painted_as_they_arrive_between_timer_ticks(session):
    from mestudio.monitor.app import latency_summary, window_stats
    from mestudio.monitor.qt import application, shutdown
    from mestudio.monitor.target import Target
    from mestudio.monitor.window import STAGES, MonitorWindow

    app = application()
    ctx = zmq.Context()
    feed = LiveFeed(session.endpoints, context=ctx).start()
    target = Target("session", "paint test", session.endpoints, None, session.t0_ns)
    win = MonitorWindow(target, feed, None, fps=1.0, video_fps=60.0)
    win.resize(800, 600)
    win.show()
    try:
        session.start()

        def pumped(cond):
            app.processEvents()
            time.sleep(0.005)
            return cond()

        # the tiles exist after the first timer tick (it lays them out from the counters)
        assert wait_for(lambda: pumped(lambda: "face" in win.tiles.tiles), 15)
        drawn0, ticks0 = win.frames_drawn["face"], win.repaints
        assert wait_for(lambda: pumped(lambda: win.frames_drawn["face"] >= drawn0 + 15), 20)
        ticks = win.repaints - ticks0
        assert win.frames_drawn["face"] - drawn0 > 3 * max(ticks, 1), (win.frames_drawn, ticks)
        assert win.frame_paints >= 15
        summary = latency_summary(win)["face"]
        assert set(summary["stages"]) == set(STAGES)
        assert 0 < summary["p50_ms"] <= summary["p99_ms"]
        # the stages of a frame add up to its whole latency, each one measured, none negative
        stages = win.stage_ns["face"]
        for i in (0, -1):
            parts = [stages[k][i] for k in STAGES]
            assert sum(parts) == win.latency_ns["face"][i] and min(parts) >= 0, parts
        stats = window_stats(win, feed, 1.0)
        assert stats["frame_paints"] == win.frame_paints and stats["gui_thread"]["cpu_s"] >= 0
    finally:
        win.stop()
        shutdown(app, win)
        feed.close()
        ctx.term()
