"""The monitor on a replayed demo session, as a user runs it: `mestudio replay` + `mestudio monitor`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("pyqtgraph")

from mestudio.stream import live
from mestudio.stream.bus import wait_for
from tests.conftest import ROOT, mestudio
from tests.monitor_fixtures import not_blank, read_png, saved_copy

pytestmark = [pytest.mark.gui, pytest.mark.slow]

VISUAL = {"face", "kinect-color", "kinect-depth", "rig-0", "rig-1", "rig-2"}


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    r = mestudio("demo", "--duration", "3", "--out", str(out), "--quiet", timeout=120)
    # 1 = recorded, but verify found gaps (a loaded machine): still a session to replay
    assert r.returncode in (0, 1), r.stderr[-2000:]
    root = next(out.glob("*/manifest.json")).parent
    assert (root / "streams" / "face" / "index.bin").stat().st_size > 0
    return root


def _drawn(stats) -> set[str]:
    """The streams the window has drawn at least 3 frames of, from its stats file (if written yet)."""
    try:
        s = json.loads(stats.read_text())
    except (OSError, ValueError):
        return set()
    return {sid for sid, n in s.get("frames_drawn", {}).items() if n >= 3}


def test_monitor_follows_a_replay_of_the_demo(demo_session, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    replay = subprocess.Popen(
        [sys.executable, "-m", "mestudio", "replay", str(demo_session), "--loop"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert wait_for(lambda: any(e.kind == "replay" for e in live.list_live()), 30), "replay did not announce itself"
        shot, stats = tmp_path / "monitor-replay.png", tmp_path / "replay.json"
        monitor = subprocess.Popen(
            [sys.executable, "-m", "mestudio", "monitor", "--screenshot", str(shot), "--stats-json", str(stats)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        try:
            # until every picture stream has been drawn a few times (its stats file is rewritten
            # every second), however long a loaded machine takes; then closed as a user does
            assert wait_for(lambda: VISUAL <= _drawn(stats), 90), stats.read_text() if stats.exists() else "no stats"
            monitor.send_signal(signal.SIGTERM)
            _, m_err = monitor.communicate(timeout=60)
        finally:
            if monitor.poll() is None:
                monitor.kill()
        assert monitor.returncode == 0, m_err[-2000:]
        assert "Fatal Python error" not in m_err
    finally:
        replay.send_signal(signal.SIGINT)
        out, err = replay.communicate(timeout=30)
    assert replay.returncode == 0, err[-2000:]
    s = json.loads(stats.read_text())
    assert s["target"]["kind"] == "replay" and s["bad_messages"] == 0
    assert VISUAL <= {sid for sid, n in s["frames_drawn"].items() if n >= 3}, s["frames_drawn"]
    assert "mic" in s["streams"] and s["latency"] == {}  # replayed stamps are not a display latency
    img = read_png(shot)
    assert img.shape == (1000, 1600, 3) and not_blank(img)
    assert not_blank(img[60:600, 0:1000])  # the video tiles
    saved_copy(shot)
