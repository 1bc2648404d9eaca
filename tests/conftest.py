"""Shared fixtures: every socket and process a test opens is closed by the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import zmq

# fixtures shared by several test modules, registered here rather than imported into each module
pytest_plugins = ["tests.capture_fixtures", "tests.elicit_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the checkout; MESTUDIO_SHARED points a worktree elsewhere at it
SHARED = Path(os.environ.get("MESTUDIO_SHARED") or ROOT.parent / "shared")


def pytest_configure(config):
    # Qt tests run offscreen unless a test starts its own X server
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def zctx():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture(autouse=True)
def _live_dir(tmp_path_factory, monkeypatch):
    """Keep each test's live-registry entries apart from real sessions on this host."""
    d = tmp_path_factory.mktemp("live")
    monkeypatch.setenv("MESTUDIO_LIVE_DIR", str(d))
    import mestudio.stream.live

    monkeypatch.setattr(mestudio.stream.live, "LIVE_DIR", d)
    return d


@pytest.fixture
def one_torch_thread():
    """One torch thread: on a shared 2-core machine two threads mostly wait for each other."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mestudio(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "mestudio", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=kw.pop("cwd", ROOT),
        **kw,
    )


def write_config(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


SMALL_RIG = """
[session]
name = "t"
participant = "P01"
[transport]
heartbeat_s = 0.2
[[devices]]
name = "cam"
kind = "synthetic-camera"
width = 320
height = 240
fps = 60
[[devices]]
name = "mic"
kind = "synthetic-audio"
rate = 48000
block = 800
"""
