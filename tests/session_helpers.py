"""Helpers for tests that run real sessions: start `mestudio run`, find its children, wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from mestudio.stream.curve import create_keys
from mestudio.stream.session import INDEX_DTYPE
from tests.conftest import ROOT, write_config


def start_run(config: Path, out: Path, *extra: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mestudio", "run", str(config), "--out", str(out), "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        **kw,
    )


def session_dir(out: Path, timeout_s: float = 20) -> Path:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = [p for p in out.glob("*/manifest.json")]
        if found:
            return found[0].parent
        time.sleep(0.05)
    raise TimeoutError(f"no session folder appeared in {out}")


def live_session_dir(out: Path, timeout_s: float = 30) -> Path:
    """The session folder of a starting `mestudio run` once a viewer can join it (its bus.json is written)."""
    root = session_dir(out, timeout_s)
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if (root / "bus.json").is_file():
            return root
        time.sleep(0.05)
    raise TimeoutError(f"{root}: no bus.json after {timeout_s} s")


def events(root: Path, topic: str | None = None) -> list[dict]:
    """The session's timeline as the recorder has flushed it so far (a torn last line is skipped)."""
    path = root / "events.jsonl"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            e = json.loads(line)
        except ValueError:
            continue  # the recorder is writing this line now
        if topic is None or e.get("topic") == topic:
            out.append(e)
    return out


def child(proc: subprocess.Popen, name: str, timeout_s: float = 30) -> psutil.Process:
    """The node process `python -m mestudio.child ROLE NAME ...` of a running supervisor."""
    return wait_for_child(proc, name, lambda c: True, timeout_s)


def wait_for_child(proc: subprocess.Popen, name: str, accept, timeout_s: float = 30) -> psutil.Process:
    """The first node process ``name`` of a running supervisor for which ``accept(process)`` holds."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        for c in psutil.Process(proc.pid).children():
            try:
                cmd = c.cmdline()
                alive = c.status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                continue
            if alive and "mestudio.child" in cmd and cmd[cmd.index("mestudio.child") + 2] == name and accept(c):
                return c
        time.sleep(0.05)
    raise TimeoutError(f"no child process {name!r}")


def wait_recording(root: Path, stream: str, frames: int, timeout_s: float = 30) -> None:
    """Wait until the session has started (every device ready: its `session/start` marker is on the
    timeline) and the recorder has flushed at least ``frames`` index records of ``stream``.

    A device publishes as soon as it is ready, before the others: frames alone do not say that
    the session clock runs."""
    idx = root / "streams" / stream / "index.bin"
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if idx.exists() and idx.stat().st_size >= frames * INDEX_DTYPE.itemsize and events(root, "session/start"):
            return
        time.sleep(0.05)
    started = "started" if events(root, "session/start") else "not started"
    raise TimeoutError(f"{stream}: fewer than {frames} frames recorded in {timeout_s} s (session {started})")


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout_s: float = 60) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, out, err


def manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def assert_only_source_losses(report: dict) -> None:
    """The recorder kept every frame a device published; any gap is one the device itself counted.

    On a loaded machine a free-running synthetic sensor more than its buffer behind drops ticks, as a
    camera would: that is reported (verdict PROBLEMS), never hidden, and is not the recorder's loss.
    """
    for s in report["streams"]:
        assert s["frames"] == s["published"], f"{s['stream_id']}: recorded {s['frames']} of {s['published']}"
        sid, counted = s["stream_id"], s["device_dropped"]
        missing = s["last_seq"] + 1 - s["frames"] if s["frames"] else 0  # before the first frame, and gaps
        assert missing == counted, f"{sid}: {missing} sequence numbers missing, the device counted {counted}"
        assert s["seq_out_of_order"] == 0 and s["bad_sizes"] == 0, s


def free_base_port(config_text: str, tmp_path: Path) -> int:
    """A base port for which every port a session of ``config_text`` (with BASE) needs is free."""
    from mestudio.config.errors import ConfigError
    from mestudio.config.loader import load_session_config
    from mestudio.preflight import check_ports
    from mestudio.session_plan import plan_nodes, producer_names

    for base in range(23000 + os.getpid() % 500 * 40, 64000, 40):
        probe = tmp_path / "probe.toml"
        probe.write_text(config_text.replace("BASE", str(base)))
        cfg = load_session_config(probe)
        try:
            check_ports(cfg, "probe", producer_names(plan_nodes(cfg)))
            return base
        except ConfigError:
            continue
    raise RuntimeError("no free ports")


def face_rig(
    name: str, width: int = 160, height: int = 120, *, participant: str = "", analyzer: bool = False, more: str = ""
) -> str:
    """A session file: one synthetic face camera ``face`` at 30 fps, the live analyzer on it if asked,
    then ``more`` (further sections)."""
    text = f'[session]\nname = "{name}"\n' + (f'participant = "{participant}"\n' if participant else "")
    text += "[transport]\nheartbeat_timeout_s = 30  # a loaded CI machine stalls; these tests check data\n"
    text += '[[devices]]\nname = "face"\nkind = "synthetic-camera"\nsource = "face"\n'
    text += f"width = {width}\nheight = {height}\nfps = 30\n"
    if analyzer:
        text += '[analyzer]\nenabled = true\nstream = "face"\n'
    return text + more


def remote_rig_template(name: str, cam2_extra: str = "") -> str:
    """A session of two small cameras, ``cam2`` on "another PC" (127.0.0.1 over CURVE tcp), for
    `remote_rig`: its {restarts}, {timeout} (heartbeat timeout) and {keys} are filled there, with
    any field ``cam2_extra`` (lines of cam2's table) names."""
    return f"""
[session]
name = "{name}"
participant = "P01"
restarts = {{restarts}}
restart_backoff_s = 0.2
[transport]
scheme = "tcp"
base_port = BASE
keys = "{{keys}}"
heartbeat_s = 0.2
heartbeat_timeout_s = {{timeout}}
[[devices]]
name = "cam"
kind = "synthetic-camera"
width = 64
height = 48
fps = 30
[[devices]]
name = "cam2"
kind = "synthetic-camera"
host = "127.0.0.1"
width = 64
height = 48
fps = 30
{cam2_extra}"""


def remote_rig(tmp_path: Path, template: str, **fields) -> Path:
    """A session file with a device on "another PC" over loopback CURVE tcp: keys for client ``pc2``
    made in ``tmp_path/keys``, ``template`` filled with ``keys`` and ``fields``, and free ports for BASE."""
    keys = tmp_path / "keys"
    create_keys(keys, ["pc2"])
    text = template.format(keys=keys, **fields)
    return write_config(tmp_path / "rig.toml", text.replace("BASE", str(free_base_port(text, tmp_path))))


def start_node(config: Path, device: str, *extra: str) -> subprocess.Popen:
    """`mestudio node CONFIG --device DEVICE ...`: the remote device's own process, as its PC runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "mestudio", "node", str(config), "--device", device, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
