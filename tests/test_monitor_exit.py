"""`mestudio monitor` as people run it: a fresh process that opens the window must exit with 0.

docs/platform-notes.md records Python aborting at exit after a Qt window ("Fatal Python error:
bool_dealloc", rc 134/139).  The cause was the binding (PySide6 6.12.0 on Python 3.11, see
monitor/qt.py), so these tests run the real command many times, offscreen and under Xvfb.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("pyqtgraph")

from mestudio.stream import live
from mestudio.stream.bus import wait_for
from tests.conftest import ROOT
from tests.monitor_fixtures import PublishingSession, not_blank, read_png, saved_copy

pytestmark = pytest.mark.gui


@pytest.fixture
def announced(tmp_path):
    session = PublishingSession(tmp_path / "s", fps=30).start()
    entry = live.announce("session", "exit test", session.endpoints, tmp_path)
    yield session, entry
    live.withdraw(entry)
    session.close()


def monitor_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "mestudio", "monitor", *args]


def run(cmd: list[str], env_extra: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.mark.slow
def test_the_window_process_exits_with_zero_every_time(announced, tmp_path):
    session, entry = announced
    for i in range(3):
        shot, stats = tmp_path / f"exit-{i}.png", tmp_path / f"exit-{i}.json"
        r = run(
            monitor_cmd(str(entry), "--duration", "1.0", "--screenshot", str(shot), "--stats-json", str(stats)),
            {"QT_QPA_PLATFORM": "offscreen"},
        )
        assert r.returncode == 0, f"run {i}: rc {r.returncode}\n{r.stderr[-2000:]}"
        assert "Fatal Python error" not in r.stderr
        s = json.loads(stats.read_text())
        assert s["frames_drawn"].get("face", 0) > 3 and s["repaints"] > 10
        assert not_blank(read_png(shot))
    saved_copy(shot)


@pytest.mark.slow
def test_under_xvfb_the_window_opens_and_exits_with_zero(announced, tmp_path):
    if not shutil.which("xvfb-run"):
        pytest.skip("xvfb-run is not installed (apt-get install xvfb, see scripts/apt-packages.txt)")
    session, entry = announced
    shot, stats = tmp_path / "xvfb.png", tmp_path / "xvfb.json"
    for i in range(2):
        r = run(
            [
                "xvfb-run",
                "-a",
                "-s",
                "-screen 0 1920x1080x24",
                *monitor_cmd(str(entry), "--duration", "1.5", "--screenshot", str(shot), "--stats-json", str(stats)),
            ],
            {"QT_QPA_PLATFORM": "xcb"},
        )
        assert r.returncode == 0, f"run {i}: rc {r.returncode}\n{r.stderr[-2000:]}"
        assert "Fatal Python error" not in r.stderr
    img = read_png(shot)
    assert img.shape == (1000, 1600, 3) and not_blank(img)
    assert json.loads(stats.read_text())["frames_drawn"].get("kinect-depth", 0) > 3
    saved_copy(shot)


def test_no_session_is_one_clear_line_and_exit_code_2(tmp_path):
    r = run(monitor_cmd(), {"QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith("mestudio monitor: no running mestudio session or replay")
    r = run(monitor_cmd(str(tmp_path)), {"QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 2 and "not a mestudio session folder" in r.stderr


@pytest.mark.slow
def test_run_and_demo_can_open_the_window_beside_a_session_and_close_it(tmp_path, monkeypatch):
    from mestudio.monitor.launch import close_window, open_window

    session = PublishingSession(tmp_path / "s", fps=30).start()
    try:
        folder = tmp_path / "session"
        folder.mkdir()
        (folder / "manifest.json").write_text(
            json.dumps(
                {"status": "recording", "session": "launch", "supervisor_pid": os.getpid(), "t0_host_ns": session.t0_ns}
            )
        )
        session.endpoints.save(folder)
        monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
        stats = tmp_path / "stats.json"
        proc = open_window(folder, log_path=tmp_path / "monitor.log", extra_args=["--stats-json", str(stats)])
        assert proc is not None
        assert wait_for(lambda: stats.exists() and json.loads(stats.read_text())["frames_drawn"].get("face"), 60)
        assert proc.poll() is None, (tmp_path / "monitor.log").read_text()[-2000:]
        assert close_window(proc) == 0, (tmp_path / "monitor.log").read_text()[-2000:]  # SIGTERM: a clean exit
        for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
            monkeypatch.delenv(var, raising=False)
        assert open_window(folder) is None  # no display: nothing opened
    finally:
        session.close()
