"""Shared fixtures: every socket and process a test opens is closed by the test."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import zmq

# fixtures shared by several test modules, registered here rather than imported into each module
pytest_plugins = ["tests.capture_fixtures", "tests.elicit_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
# real third-party data for the tests that use it (they skip when it is absent); never in the repo
SHARED = Path(os.environ.get("MESTUDIO_SHARED") or ROOT.parent / "shared")
ZCTX_TERM_TIMEOUT_S = 10.0


def pytest_configure(config):
    # Qt tests run offscreen unless a test starts its own X server
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def zctx():
    """A ZeroMQ context the test must leave with every socket closed (pyzmq's own tests' rule).

    The context is terminated, not destroyed: destroy() would close a leaked socket silently.  A
    socket left open fails the test (it is closed here with linger 0 so the run goes on), and so
    does a context that cannot terminate (a socket still open in a thread the test started).
    """
    ctx = zmq.Context()
    yield ctx
    leaked = [s for s in list(ctx._sockets) if not s.closed]
    for s in leaked:
        s.close(linger=0)
    term = threading.Thread(target=ctx.term, name="zctx-term", daemon=True)
    term.start()
    term.join(ZCTX_TERM_TIMEOUT_S)
    if leaked:
        kinds = ", ".join(sorted(zmq.SocketType(s.type).name for s in leaked))
        pytest.fail(f"the test left {len(leaked)} ZeroMQ socket(s) open ({kinds}): close them, linger 0")
    if term.is_alive():
        pytest.fail(f"the ZeroMQ context did not terminate within {ZCTX_TERM_TIMEOUT_S} s: a socket is still open")


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


def slow_recorder_rig(recorder_keys: str) -> str:
    """One small 60 fps camera (64*48*60 = 0.18 MB/s) and a recorder that writes a third of it
    (recorder.write_mb_per_s, a slow disk simulated for real), with more [recorder] keys."""
    return f"""
[session]
name = "t"
participant = "P01"
[transport]
heartbeat_s = 0.2
heartbeat_timeout_s = 30
[recorder]
flush_interval_s = 0.25
write_mb_per_s = 0.06
{recorder_keys}
[[devices]]
name = "cam"
kind = "synthetic-camera"
width = 64
height = 48
fps = 60
"""


SMALL_RIG = """
[session]
name = "t"
participant = "P01"
[transport]
heartbeat_s = 0.2
# a loaded test machine can stall a node for seconds; no test is about the 5 s watchdog
heartbeat_timeout_s = 30
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
