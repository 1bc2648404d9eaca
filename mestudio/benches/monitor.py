"""Does the monitor slow the recording, and how fresh is what it shows?

One run, one real recorder process (the node the supervisor starts) writing a session folder:
  1. without a viewer: one producer sends rig-size frames (1600x1200 mono8) as fast as the
     recorder takes them; the recorder's throughput is read back from its own index (receive
     times of the first and last frame);
  2. the same with `mestudio monitor` (a separate process, offscreen) attached to the session;
  3. paced 60 fps face-camera frames (640x480) with the monitor attached: capture-to-display
     latency (frame capture stamp to the end of the paint that showed it) from the monitor's
     --stats-json.
The ratio with/without is the figure to watch (1.0 = no cost); the machine is shared and disk
speed varies, so only the ratio inside one run means anything.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

HELP = "capture-to-display latency of the monitor, and recorder throughput with and without it"

RIG = (1200, 1600)
FACE = (480, 640)


def _recorder_ready(control: zmq.Socket, proc: subprocess.Popen, timeout_s: float) -> None:
    from stream import wire
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the recorder exited with code {proc.returncode}")
        if control.poll(100):
            msg = wire.recv(control)
            if isinstance(msg.data, dict) and msg.data.get("ready"):
                return
    raise RuntimeError(f"the recorder sent no ready heartbeat in {timeout_s:.0f} s")


def _blast(pub, sid: str, seconds: float) -> int:
    """Send rig frames as fast as the recorder takes them for ``seconds``; returns frames sent."""
    from stream import wire
    frame = np.random.default_rng(0).integers(0, 255, RIG, dtype=np.uint8)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        if pub.send(wire.frame_parts(sid, n, frame, host_time_ns=wire.now_ns(), pixel_format="mono8")):
            n += 1
    return n


def _paced(pub, sid: str, seconds: float, fps: float = 60.0) -> int:
    from stream import wire
    frame = np.random.default_rng(1).integers(0, 255, FACE, dtype=np.uint8)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        pub.send(wire.frame_parts(sid, n, frame, host_time_ns=wire.now_ns(), pixel_format="mono8"))
        n += 1
        delay = t0 + n / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return n


def _throughput(root: Path, sid: str, sent: int, timeout_s: float = 60) -> dict:
    """MB/s the recorder wrote for ``sid``: bytes over its first-to-last receive time."""
    from stream.session import INDEX_DTYPE
    idx_path = root / "streams" / sid / "index.bin"
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and (not idx_path.exists() or idx_path.stat().st_size < sent * INDEX_DTYPE.itemsize):
        time.sleep(0.1)
    raw = idx_path.read_bytes()
    idx = np.frombuffer(raw[: len(raw) // INDEX_DTYPE.itemsize * INDEX_DTYPE.itemsize], INDEX_DTYPE)
    dt = (int(idx["recv_time_ns"][-1]) - int(idx["recv_time_ns"][0])) / 1e9
    mb = float(idx["nbytes"].sum()) / 1e6
    return {"frames": int(len(idx)), "sent": sent, "mb": round(mb, 1),
            "mb_per_s": round(mb / dt, 1) if dt > 0 else 0.0, "fps": round(len(idx) / dt, 1) if dt > 0 else 0.0}


def _wait_monitor(stats_path: Path, proc: subprocess.Popen, pub, timeout_s: float) -> None:
    """Send paced frames until the monitor reports it received some (it is connected)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the monitor exited with code {proc.returncode}: {proc.stderr.read()[-500:]}")
        _paced(pub, "warmup", 0.25)
        try:
            if json.loads(stats_path.read_text()).get("received", 0) > 0:
                return
        except (OSError, ValueError):
            pass
    raise RuntimeError(f"the monitor did not connect within {timeout_s:.0f} s")


def run(args) -> dict:
    from config.loader import bundled_config, load_session_config
    from mestudio.supervisor import create_session
    from stream.bus import Endpoints, Publisher

    seconds = 1.5 if getattr(args, "quick", False) else 4.0
    tmp = Path(tempfile.mkdtemp(prefix="mestudio-bench-monitor-"))
    cfg_path = bundled_config("demo.toml")
    root = create_session(load_session_config(cfg_path), Path(cfg_path).read_text(), out=tmp)
    ep = Endpoints.plan("ipc", "127.0.0.1", 0, ["bench"], key=str(root.resolve()))
    ep.save(root)
    ctx = zmq.Context()
    control = ctx.socket(zmq.PULL)
    control.linger = 0
    control.bind(ep.control)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    recorder = subprocess.Popen([sys.executable, "-m", "mestudio.child", "recorder", "recorder", str(root)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    monitor = None
    pub = None
    try:
        _recorder_ready(control, recorder, 30)
        pub = Publisher(ctx, ep, "bench", record_hwm=16, block_s=5.0)
        without = _throughput(root, "rig-without", _blast(pub, "rig-without", seconds))
        stats_path = tmp / "monitor-stats.json"
        monitor = subprocess.Popen([sys.executable, "-m", "mestudio", "monitor", str(root),
                                    "--stats-json", str(stats_path)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_monitor(stats_path, monitor, pub, 60)
        with_monitor = _throughput(root, "rig-with-monitor", _blast(pub, "rig-with-monitor", seconds))
        paced = _paced(pub, "face", seconds + 1.0)
        time.sleep(1.2)  # the stats file is rewritten every second
        monitor.terminate()
        monitor.wait(30)
        stats = json.loads(stats_path.read_text())
        lat = stats["latency"].get("face", {})
        return {
            "frame": f"{RIG[1]}x{RIG[0]} mono8 (rig camera) for throughput, {FACE[1]}x{FACE[0]} at 60 fps for latency",
            "latency_ms": {"p50": lat.get("p50_ms"), "p99": lat.get("p99_ms"), "frames": lat.get("frames", 0),
                           "sent": paced},
            "recorder_without_monitor": without,
            "recorder_with_monitor": with_monitor,
            "ratio_with_to_without": round(with_monitor["mb_per_s"] / without["mb_per_s"], 3)
            if without["mb_per_s"] else None,
            "monitor": {"exit_code": monitor.returncode, "repaint_hz": stats["repaint_hz"],
                        "frames_drawn_while_recording_max": stats["frames_drawn"].get("rig-with-monitor", 0),
                        "frames_skipped_by_monitor_at_max_rate": stats["streams"].get("rig-with-monitor", {}).get("gaps")},
            "producer_backpressure_waits": pub.backpressure, "producer_dropped": pub.dropped,
        }
    finally:
        if monitor is not None and monitor.poll() is None:
            monitor.kill()
            monitor.wait()
        if pub is not None:
            pub.close()
        if recorder.poll() is None:
            recorder.terminate()
            try:
                recorder.wait(60)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait()
        control.close()
        ctx.term()
        shutil.rmtree(tmp, ignore_errors=True)
