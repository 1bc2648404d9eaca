"""Running the window: connect, show, run the Qt loop, and tear down in a fixed order.

Teardown order (so that nothing Qt-owned is destroyed during interpreter finalization): stop the
repaint timer, take the screenshot and the statistics, close and delete the window while the
event loop can still process the deletion, then stop the feed thread and close every socket,
then terminate the ZeroMQ context.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import zmq

from mestudio.monitor.feed import LiveFeed
from mestudio.monitor.operator import CommandSender
from mestudio.monitor.qt import QtCore, application, shutdown
from mestudio.monitor.target import Target
from mestudio.monitor.window import MonitorWindow, thread_schedstat


def _p50_p99(ns) -> dict:
    a = np.asarray(ns, dtype=np.float64) / 1e6
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2)}


def latency_summary(window: MonitorWindow) -> dict:
    """Capture-to-display latency over every frame drawn: p50/p99 in ms, per stream and all,
    and per stream its stages (window.py: wire, wait, convert, paint)."""
    out = {}
    every = []
    for sid, d in sorted(window.latency_ns.items()):
        a = np.asarray(d, dtype=np.float64) / 1e6
        every.append(a)
        stages = window.stage_ns.get(sid, {})
        out[sid] = {
            "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2),
            "frames": int(a.size),
            "stages": {k: _p50_p99(v) for k, v in stages.items() if v},
        }
    if every:
        a = np.concatenate(every)
        out["all"] = {
            "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2),
            "frames": int(a.size),
        }
    return out


def window_stats(window: MonitorWindow, feed: LiveFeed, wall_s: float) -> dict:
    """Called in the GUI thread (its CPU and run-queue wait are that thread's)."""
    snap_stats = window.stream_stats
    cpu_ns, wait_ns = (a - b for a, b in zip(thread_schedstat(), window.sched_start))
    return {
        "target": {"kind": window.target.kind, "label": window.target.label},
        "wall_s": round(wall_s, 3),
        "repaints": window.repaints,
        "repaint_hz": round(window.repaints / wall_s, 2) if wall_s > 0 else 0.0,
        "frame_paints": window.frame_paints,
        # a GUI thread that waited long for a CPU was late because of the machine, not its work
        "gui_thread": {"cpu_s": round(cpu_ns / 1e9, 3), "run_queue_wait_s": round(wait_ns / 1e9, 3)},
        "received": feed.received,
        "bad_messages": feed.bad,
        "throttled_s": round(feed.throttled_s, 2),
        "frames_drawn": dict(window.frames_drawn),
        "streams": {
            sid: {
                "frames_seen": st.frames_seen,
                "gaps": st.gaps,
                "skipped": st.skipped,
                "last_seq": st.last_seq,
                "ended": st.ended,
            }
            for sid, st in snap_stats.items()
        },
        "latency": latency_summary(window),
        "recorder": window.state.recorder.to_wire() if window.state.recorder is not None else None,
        "events": dict(window.state.counts),
        "intervals": len(window.state.intervals),
        "marks": len(window.state.marks),
        "log_lines": len(window.state.log),
    }


_last_write: dict[str, float] = {}


def _write_stats(path: Path, window: MonitorWindow, feed: LiveFeed, wall_s: float, every_s: float = 0.0) -> None:
    now = time.monotonic()
    if now - _last_write.get(str(path), -1e9) < every_s:
        return
    _last_write[str(path)] = now
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    tmp.write_text(json.dumps(window_stats(window, feed, wall_s), indent=2))
    tmp.replace(path)


def run_monitor(
    target: Target,
    *,
    duration_s: float | None = None,
    screenshot: Path | None = None,
    stats_json: Path | None = None,
    fps: float = 25.0,
    size: tuple[int, int] = (1600, 1000),
    nice: int = 10,
    max_mb_per_s: float = 0.0,
    preview_fps: float = 0.0,
    on_ready=None,
) -> int:
    """Open the window on ``target`` until it is closed, Ctrl-C, or ``duration_s`` passes."""
    if nice:
        try:  # a viewer yields the CPU to the recorder and the devices when they need it
            os.nice(nice)
        except OSError:
            pass
    app = application()
    ctx = zmq.Context()
    feed = LiveFeed(target.endpoints, context=ctx, max_mb_per_s=max_mb_per_s, preview_fps=preview_fps).start()
    commands = CommandSender(target.endpoints, ctx) if target.kind != "replay" else None
    # video is painted as it arrives, capped at the rate frames are taken (the preview rate)
    window = MonitorWindow(target, feed, commands, fps=fps, video_fps=preview_fps or 2 * fps)
    window.resize(*size)
    window.show()
    # Ctrl-C and SIGTERM close the window cleanly; Python runs signal handlers only between
    # bytecodes, so a timer wakes it up now and then
    previous = {s: signal.signal(s, lambda *_: app.quit()) for s in (signal.SIGINT, signal.SIGTERM)}
    wake = QtCore.QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(200)
    started = time.monotonic()
    if stats_json is not None:  # rewritten every second, so other programs can follow the window
        wake.timeout.connect(lambda: _write_stats(stats_json, window, feed, time.monotonic() - started, 1.0))
    if duration_s is not None:
        QtCore.QTimer.singleShot(int(duration_s * 1000), app.quit)
    if on_ready is not None:
        on_ready(window)
    try:
        app.exec()
    finally:
        wall = time.monotonic() - started
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        wake.stop()
        window.stop()
        try:
            if screenshot is not None:
                window.save_screenshot(screenshot)
            if stats_json is not None:
                _write_stats(stats_json, window, feed, wall)
        finally:
            shutdown(app, window)
            feed.close()
            if commands is not None:
                commands.close()
            ctx.term()
    return 0
