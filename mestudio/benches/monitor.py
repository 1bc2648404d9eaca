"""Does the monitor slow the recording, and how fresh is what it shows?

One run, one real recorder process (the node the supervisor starts) writing a session folder,
and `mestudio monitor` (a separate process, offscreen) attached to the session:
  1. one producer sends rig-size frames (1600x1200 mono8) as fast as the recorder takes them, in
     alternating short phases with the window stopped (SIGSTOP: it takes no CPU and its full queue
     drops at the sender, as if it were not there) and running.  The recorder's throughput is
     read back from its own index (receive times of a phase's first and last frame); the medians
     over the phases and their ratio are reported.  It writes to RAM (tmpfs) when there is room:
     on the shared disk, page cache and writeback swing the figure 3x from phase to phase, which
     hides the only cost a viewer can have, CPU taken from the recorder;
  2. paced 60 fps face-camera frames (640x480): capture-to-display latency (frame capture stamp
     to the end of the paint that showed it) from the monitor's --stats-json.
The ratio with/without is the figure to watch (1.0 = no cost); the machine is shared and noisy,
so only figures from one run compare.  Beside it, figures that do not depend on the machine's
load: the recorder's CPU per MB written with and without the window (all its threads, from
/proc/PID/task/*/schedstat, ns resolution), and the window's own CPU per MB recorded (what it
would take from the recorder on a CPU-bound machine).  The phases alternate their order from
round to round (with first, then without first), so neither always runs on a warmer cache.
The latency comes with its stages, measured inside the window (monitor/window.py) and the GUI
thread's run-queue wait (time it was ready but another process had the CPU).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from mestudio.stream.spawn import module_command

HELP = "capture-to-display latency of the monitor, and recorder throughput with and without it"

RIG = (1200, 1600)
FACE = (480, 640)


def _recorder_ready(control: zmq.Socket, proc: subprocess.Popen, timeout_s: float) -> None:
    from mestudio.stream import wire

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the recorder exited with code {proc.returncode}")
        if control.poll(100):
            msg = wire.recv(control)
            if isinstance(msg.data, dict) and msg.data.get("ready"):
                return
    raise RuntimeError(f"the recorder sent no ready heartbeat in {timeout_s:.0f} s")


def _announce(pub, sid: str, shape: tuple[int, int]) -> None:
    """The stream's info message, as a device node sends before its first frame."""
    from mestudio.stream import messages, wire

    body = messages.StreamInfoBody(stream_id=sid, dtype="|u1", shape=list(shape), pixel_format="mono8").to_wire()
    pub.send(wire.json_parts(wire.Kind.EVENT, sid, 0, body, topic=messages.info_topic(sid)))


def _blast(pub, sid: str, frames: int) -> int:
    """Send ``frames`` rig frames as fast as the recorder takes them; returns frames sent."""
    from mestudio.stream import wire

    frame = np.random.default_rng(0).integers(0, 255, RIG, dtype=np.uint8)
    _announce(pub, sid, RIG)
    n = 0
    while n < frames:
        if pub.send(wire.frame_parts(sid, n, frame, host_time_ns=wire.now_ns(), pixel_format="mono8")):
            n += 1
    return n


def _scratch() -> tuple[Path, str]:
    """Where the recorder writes: RAM (tmpfs) when there is room, so that the figure is the
    recorder's own speed (CPU, copies) that a viewer could take away, not the shared disk's."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 8e9:
        return Path(tempfile.mkdtemp(prefix="mestudio-bench-monitor-", dir=shm)), "tmpfs (RAM)"
    return Path(tempfile.mkdtemp(prefix="mestudio-bench-monitor-")), "disk (its speed varies: compare ratios only)"


def _paced(pub, sid: str, seconds: float, fps: float = 60.0) -> int:
    from mestudio.stream import wire

    frame = np.random.default_rng(1).integers(0, 255, FACE, dtype=np.uint8)
    _announce(pub, sid, FACE)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        pub.send(wire.frame_parts(sid, n, frame, host_time_ns=wire.now_ns(), pixel_format="mono8"))
        n += 1
        delay = t0 + n / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return n


def process_cpu_ns(pid: int) -> int:
    """CPU ns of every thread of process ``pid`` so far (0 where /proc does not say)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


def _phase(root: Path, pub, sid: str, frames: int, recorder: int, monitor: int) -> dict:
    """One blast of ``frames``; its throughput, and the CPU the recorder and the window took."""
    r0, m0 = process_cpu_ns(recorder), process_cpu_ns(monitor)
    got = _throughput(root, sid, _blast(pub, sid, frames))
    r1, m1 = process_cpu_ns(recorder), process_cpu_ns(monitor)
    got["recorder_cpu_ms_per_mb"] = round((r1 - r0) / 1e6 / got["mb"], 3) if got["mb"] else None
    got["monitor_cpu_ms_per_mb"] = round((m1 - m0) / 1e6 / got["mb"], 3) if got["mb"] else None
    return got


def _throughput(root: Path, sid: str, sent: int, timeout_s: float = 60) -> dict:
    """MB/s the recorder wrote for ``sid``: bytes over its first-to-last receive time."""
    from mestudio.stream.session import INDEX_DTYPE

    idx_path = root / "streams" / sid / "index.bin"
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and (not idx_path.exists() or idx_path.stat().st_size < sent * INDEX_DTYPE.itemsize):
        time.sleep(0.1)
    raw = idx_path.read_bytes()
    idx = np.frombuffer(raw[: len(raw) // INDEX_DTYPE.itemsize * INDEX_DTYPE.itemsize], INDEX_DTYPE)
    dt = (int(idx["recv_time_ns"][-1]) - int(idx["recv_time_ns"][0])) / 1e9
    mb = float(idx["nbytes"].sum()) / 1e6
    return {
        "frames": int(len(idx)),
        "sent": sent,
        "mb": round(mb, 1),
        "mb_per_s": round(mb / dt, 1) if dt > 0 else 0.0,
        "fps": round(len(idx) / dt, 1) if dt > 0 else 0.0,
    }


def _wait_monitor(stats_path: Path, proc: subprocess.Popen, pub, timeout_s: float) -> None:
    """Send paced frames until the monitor reports it received some (it is connected)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the monitor exited with code {proc.returncode}: {proc.stderr.read()[-500:] if proc.stderr else ''}"
            )
        _paced(pub, "warmup", 0.25)
        try:
            if json.loads(stats_path.read_text()).get("received", 0) > 0:
                return
        except (OSError, ValueError):
            pass
    raise RuntimeError(f"the monitor did not connect within {timeout_s:.0f} s")


def _spread(values: list[float]) -> dict | None:
    from mestudio.benches._rounds import spread

    return spread(values) if values else None


def run(args) -> dict:
    from mestudio.config.loader import bundled_config, load_session_config
    from mestudio.session_plan import create_session
    from mestudio.stream.bus import Endpoints, Publisher

    quick = getattr(args, "quick", False)
    rounds, frames, paced_s = (2, 80, 2.5) if quick else (6, 150, 6.0)
    tmp, storage = _scratch()
    cfg_path = bundled_config("demo.toml")
    root = create_session(load_session_config(cfg_path), Path(cfg_path).read_text(), out=tmp)
    ep = Endpoints.plan("ipc", "127.0.0.1", 0, ["bench"], key=str(root.resolve()))
    ep.save(root)
    ctx = zmq.Context()
    control = ctx.socket(zmq.PULL)
    control.linger = 0
    control.bind(ep.control)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    recorder = subprocess.Popen(
        module_command("mestudio.child", "recorder", "recorder", str(root)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    monitor = None
    pub = None
    try:
        _recorder_ready(control, recorder, 30)
        pub = Publisher(ctx, ep, "bench", record_hwm=16, block_s=5.0)
        stats_path = tmp / "monitor-stats.json"
        monitor = subprocess.Popen(
            module_command("mestudio", "monitor", str(root), "--stats-json", str(stats_path)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_monitor(stats_path, monitor, pub, 60)
        # Alternate short phases so that the shared machine's swings hit both sides alike.
        # "Without" = the window stopped (SIGSTOP): no CPU at all, its full queue drops at the
        # sender, exactly as if it were not there; "with" = the window running.
        without, with_monitor = [], []
        for r in range(rounds):
            for stopped in (True, False) if r % 2 == 0 else (False, True):
                if stopped:
                    os.kill(monitor.pid, signal.SIGSTOP)
                    without.append(_phase(root, pub, f"rig-without-{r}", frames, recorder.pid, monitor.pid))
                    os.kill(monitor.pid, signal.SIGCONT)
                    time.sleep(0.3)  # it drains what queued while it was stopped
                else:
                    with_monitor.append(_phase(root, pub, f"rig-with-{r}", frames, recorder.pid, monitor.pid))
        paced = _paced(pub, "face", paced_s)
        time.sleep(1.2)  # the stats file is rewritten every second
        monitor.terminate()
        monitor.wait(30)
        stats = json.loads(stats_path.read_text())
        lat = stats["latency"].get("face", {})
        a = float(np.median([x["mb_per_s"] for x in without]))
        b = float(np.median([x["mb_per_s"] for x in with_monitor]))
        paired = [w["mb_per_s"] / o["mb_per_s"] for w, o in zip(with_monitor, without) if o["mb_per_s"]]
        cpu_without = float(np.median([x["recorder_cpu_ms_per_mb"] or 0.0 for x in without]))
        cpu_with = float(np.median([x["recorder_cpu_ms_per_mb"] or 0.0 for x in with_monitor]))
        cpu_window = float(np.median([x["monitor_cpu_ms_per_mb"] or 0.0 for x in with_monitor]))
        drawn = sum(n for sid, n in stats["frames_drawn"].items() if sid.startswith("rig-with-"))
        skipped = sum(v.get("gaps") or 0 for sid, v in stats["streams"].items() if sid.startswith("rig-with-"))
        # what the window took off the wire: a steadier figure of its cost than a loaded throughput
        taken = sum(v.get("frames_seen") or 0 for sid, v in stats["streams"].items() if sid.startswith("rig-with-"))
        not_sent = sum(v.get("skipped") or 0 for sid, v in stats["streams"].items() if sid.startswith("rig-with-"))
        return {
            "frame": f"{RIG[1]}x{RIG[0]} mono8 (rig camera) for throughput, {FACE[1]}x{FACE[0]} at 60 fps for latency",
            "recorder_writes_to": storage,
            "latency_ms": {
                "p50": lat.get("p50_ms"),
                "p99": lat.get("p99_ms"),
                "frames_shown": lat.get("frames", 0),
                "frames_sent": paced,
                "stages": lat.get("stages", {}),
            },
            "monitor_gui_thread": stats.get("gui_thread"),
            "monitor_frame_paints": stats.get("frame_paints"),
            "recorder_mb_per_s": {
                "without_monitor_median": round(a, 1),
                "with_monitor_median": round(b, 1),
                "without_monitor": [x["mb_per_s"] for x in without],
                "with_monitor": [x["mb_per_s"] for x in with_monitor],
                "frames_per_phase": frames,
            },
            "ratio_with_to_without": round(b / a, 3) if a else None,
            "ratio_with_to_without_paired": _spread(paired),
            "recorder_cpu_ms_per_mb": {
                "without_monitor_median": round(cpu_without, 3),
                "with_monitor_median": round(cpu_with, 3),
                "without_monitor": [x["recorder_cpu_ms_per_mb"] for x in without],
                "with_monitor": [x["recorder_cpu_ms_per_mb"] for x in with_monitor],
            },
            # the recorder's CPU per MB does not depend on the load; 1.0 = the window costs it nothing
            "cpu_ratio_without_to_with": round(cpu_without / cpu_with, 3) if cpu_with else None,
            "monitor_cpu_ms_per_recorded_mb": round(cpu_window, 3),
            # on a machine whose CPU is all taken, the window's CPU comes off the recorder's
            "monitor_cpu_share_of_recorder": round(cpu_window / cpu_with, 3) if cpu_with else None,
            "monitor": {
                "exit_code": monitor.returncode,
                "repaint_hz": stats["repaint_hz"],
                "frames_drawn_at_max_rate": drawn,
                "frames_skipped_at_max_rate": skipped,
                "frames_received_at_max_rate": taken,
                "frames_not_sent_at_max_rate": not_sent,
                "fraction_of_rig_frames_received": round(taken / (rounds * frames), 3),
                "intake_paused_s": stats.get("throttled_s"),
            },
            "producer_backpressure_waits": pub.backpressure,
            "producer_dropped": pub.dropped,
        }
    finally:
        if monitor is not None and monitor.poll() is None:
            os.kill(monitor.pid, signal.SIGCONT)
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
