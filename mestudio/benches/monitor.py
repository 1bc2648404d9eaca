"""Does the monitor slow the recording, and how fresh is what it shows?

One run, one real recorder process (the node the supervisor starts) writing a session folder,
and `mestudio monitor` (a separate process, offscreen, niceness 10 as it runs in a session)
attached to it, showing the whole 4D rig (six 1600x1200 mono8 streams, `_rig_load.py`):

1. **Throughput-bound** (`ratio_with_to_without`): rounds of two phases, the window stopped
   (SIGSTOP: no CPU at all; its full queue drops at the sender, as if it were not open) and the
   window running at its full paint rate.  In each phase the rig's six streams are sent as fast as
   the recorder takes them for `PHASE_S` seconds (several seconds: the window's own pauses, a
   paint every 20 ms per tile, average out inside a phase; phases of 0.15 s made the figure
   noise, 0.28-1.31 per round).  The recorder's MB/s is read back from its own index (bytes over
   the span of the phase's receive times).  ``ratio_with_to_without`` is the median over the
   rounds of (MB/s with the window / MB/s without) *inside each round*, the two phases seconds
   apart; the order within a round alternates (without first, then with first, ...), so neither
   always runs on a warmer cache.  On 2 cores this is the recorder, the producer and the window
   competing for the CPU: 1.0 = the window takes nothing from the recorder.
2. **At the rig's rate** (`rig_rate`): the same alternation with the six streams paced at 60 fps
   (691 MB/s, the study's rig).  The question there is not MB/s (the recorder keeps up or it
   does not) but whether every frame was written, how late (host stamp to the recorder's
   receive), and how much CPU the recorder spends (cores, ms per MB) with and without the window.
3. **Latency**: paced 60 fps face-camera frames (640x480); capture-to-display latency (frame
   capture stamp to the end of the paint that showed it) from the monitor's --stats-json, with
   its stages and the GUI thread's run-queue wait.

CPU figures do not depend on who else runs: the recorder's CPU per MB written with and without
the window (all its threads, /proc/PID/task/*/schedstat), the window's own CPU per MB recorded
and the producer's.  The recorder writes to RAM (tmpfs) when there is room, so that the figure is
the CPU a viewer could take away, not the shared disk's page-cache swings; each phase's frames
are given back after it (`free_written`).
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

from mestudio.benches._rig_load import (
    RIG_CAMERAS,
    RIG_FPS,
    RIG_SHAPE,
    PhaseRecords,
    RigProducer,
    announce,
    free_written,
    process_cpu_ns,
    process_sched_ns,
    read_phase,
)
from mestudio.benches._rounds import cpu_s, spread
from mestudio.stream.spawn import module_command

HELP = "capture-to-display latency of the monitor, and the recorder's throughput and CPU with and without it"

FACE = (480, 640)
PHASE_S = 3.0  # one throughput-bound phase (--quick: QUICK_PHASE_S)
QUICK_PHASE_S = 0.8
RIG_RATE_PHASE_S = 3.0
SETTLE_S = 0.5  # after SIGCONT: the window drains what queued while it was stopped


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
    announce(pub, sid, FACE)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        pub.send(wire.frame_parts(sid, n, frame, host_time_ns=wire.now_ns(), pixel_format="mono8"))
        n += 1
        delay = t0 + n / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return n


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


class _Phases:
    """Runs one phase (window stopped or running) and measures it from the recorder's index."""

    def __init__(self, root: Path, rig: RigProducer, recorder: int, monitor: int) -> None:
        self.root, self.rig, self.recorder, self.monitor = root, rig, recorder, monitor

    def run(self, window_on: bool, seconds: float, fps: float | None) -> dict:
        if not window_on:
            os.kill(self.monitor, signal.SIGSTOP)
        try:
            start = list(self.rig.sent)
            (r0, q0), m0, p0, t0 = (
                process_sched_ns(self.recorder),
                process_cpu_ns(self.monitor),
                cpu_s(),
                time.monotonic(),
            )
            self.rig.run(seconds, fps)
            sent_s = time.monotonic() - t0
            p1 = cpu_s()
            rec = read_phase(self.root, self.rig.sids, start, list(self.rig.sent))
            (r1, q1), m1, wall = process_sched_ns(self.recorder), process_cpu_ns(self.monitor), time.monotonic() - t0
        finally:
            if not window_on:
                os.kill(self.monitor, signal.SIGCONT)
        free_written(self.root, self.rig.sids)
        if not window_on:
            time.sleep(SETTLE_S)
        figures = _figures(rec, (r1 - r0) / 1e9, (m1 - m0) / 1e9, p1 - p0, sent_s, wall)
        # the recorder's threads ready to run while another had the CPU: how a viewer slows it
        figures["recorder_run_queue_ms_per_mb"] = round((q1 - q0) / 1e6 / (rec.mb or 1e-9), 3)
        return figures


def _figures(rec: PhaseRecords, rec_cpu: float, mon_cpu: float, prod_cpu: float, sent_s: float, wall: float) -> dict:
    mb = rec.mb or 1e-9
    return {
        "frames": rec.frames,
        "frames_missing": rec.expected - rec.frames,
        "in_order": rec.seq_ok,
        "mb": round(rec.mb, 1),
        "mb_per_s": round(rec.mb_per_s(), 1),
        "sent_mb_per_s": round(rec.mb / sent_s, 1) if sent_s > 0 else 0.0,
        "lag_ms": rec.lag_ms(),
        "recorder_cpu_ms_per_mb": round(1000 * rec_cpu / mb, 3),
        "monitor_cpu_ms_per_mb": round(1000 * mon_cpu / mb, 3),
        "producer_cpu_ms_per_mb": round(1000 * prod_cpu / mb, 3),
        # CPU over the phase (sending, then the recorder's last flush): cores used
        "recorder_cores": round(rec_cpu / wall, 3) if wall > 0 else None,
        "monitor_cores": round(mon_cpu / wall, 3) if wall > 0 else None,
    }


def _alternate(phases: _Phases, rounds: int, seconds: float, fps: float | None) -> tuple[list[dict], list[dict]]:
    """``rounds`` pairs of (without, with), the order flipped every round (ABBA)."""
    without: list[dict] = []
    with_window: list[dict] = []
    for r in range(rounds):
        for window_on in (False, True) if r % 2 == 0 else (True, False):
            (with_window if window_on else without).append(phases.run(window_on, seconds, fps))
    return without, with_window


def _median(xs: list[dict], key: str) -> float:
    vals = [x[key] for x in xs if x[key] is not None]
    return round(float(np.median(vals)), 3) if vals else 0.0


def _throughput_bound(without: list[dict], with_window: list[dict], seconds: float) -> dict:
    paired = [w["mb_per_s"] / o["mb_per_s"] for w, o in zip(with_window, without) if o["mb_per_s"]]
    a, b = _median(without, "mb_per_s"), _median(with_window, "mb_per_s")
    cpu_without, cpu_with = _median(without, "recorder_cpu_ms_per_mb"), _median(with_window, "recorder_cpu_ms_per_mb")
    cpu_window = _median(with_window, "monitor_cpu_ms_per_mb")
    return {
        # the figure: median over rounds of the with/without ratio inside each round
        "ratio_with_to_without": round(float(np.median(paired)), 3) if paired else None,
        "ratio_with_to_without_paired": spread(paired) if paired else None,
        "ratio_of_medians": round(b / a, 3) if a else None,
        "recorder_mb_per_s": {
            "without_monitor_median": a,
            "with_monitor_median": b,
            "without_monitor": [x["mb_per_s"] for x in without],
            "with_monitor": [x["mb_per_s"] for x in with_window],
            "phase_s": seconds,
            "mb_per_phase_median": _median(without + with_window, "mb"),
        },
        "recorder_cpu_ms_per_mb": {
            "without_monitor_median": cpu_without,
            "with_monitor_median": cpu_with,
            "without_monitor": [x["recorder_cpu_ms_per_mb"] for x in without],
            "with_monitor": [x["recorder_cpu_ms_per_mb"] for x in with_window],
        },
        # the recorder's CPU per MB does not depend on the load; 1.0 = the window costs it nothing
        "cpu_ratio_without_to_with": round(cpu_without / cpu_with, 3) if cpu_with else None,
        "monitor_cpu_ms_per_recorded_mb": cpu_window,
        "recorder_run_queue_ms_per_mb": {
            "without_monitor_median": _median(without, "recorder_run_queue_ms_per_mb"),
            "with_monitor_median": _median(with_window, "recorder_run_queue_ms_per_mb"),
        },
        "producer_cpu_ms_per_mb": _median(without + with_window, "producer_cpu_ms_per_mb"),
        # on a machine whose CPU is all taken, the window's CPU comes off the recorder's
        "monitor_cpu_share_of_recorder": round(cpu_window / cpu_with, 3) if cpu_with else None,
        "frames_missing": sum(x["frames_missing"] for x in without + with_window),
    }


def _rig_rate(without: list[dict], with_window: list[dict], seconds: float) -> dict:
    def side(xs: list[dict]) -> dict:
        return {
            "recorded_mb_per_s": _median(xs, "mb_per_s"),
            "sent_mb_per_s": _median(xs, "sent_mb_per_s"),
            "frames_missing": sum(x["frames_missing"] for x in xs),
            "lag_ms_p99": max((x["lag_ms"]["p99"] or 0.0) for x in xs) if xs else None,
            "lag_ms_max": max((x["lag_ms"]["max"] or 0.0) for x in xs) if xs else None,
            "recorder_cores": _median(xs, "recorder_cores"),
            "recorder_cpu_ms_per_mb": _median(xs, "recorder_cpu_ms_per_mb"),
            "recorder_run_queue_ms_per_mb": _median(xs, "recorder_run_queue_ms_per_mb"),
            "producer_cpu_ms_per_mb": _median(xs, "producer_cpu_ms_per_mb"),
        }

    sides = side(without), side(with_window)
    w, o = sides[1]["recorder_cpu_ms_per_mb"], sides[0]["recorder_cpu_ms_per_mb"]
    return {
        "load": f"{RIG_CAMERAS} x {RIG_SHAPE[1]}x{RIG_SHAPE[0]} mono8 at {RIG_FPS:g} fps",
        "target_mb_per_s": round(RIG_CAMERAS * RIG_FPS * RIG_SHAPE[0] * RIG_SHAPE[1] / 1e6, 1),
        "phase_s": seconds,
        "rounds": len(without),
        "without_monitor": sides[0],
        "with_monitor": sides[1],
        "monitor_cores": _median(with_window, "monitor_cores"),
        "monitor_cpu_ms_per_recorded_mb": _median(with_window, "monitor_cpu_ms_per_mb"),
        "recorder_cpu_ratio_with_to_without": round(w / o, 3) if o else None,
    }


def run(args) -> dict:
    from mestudio.config.loader import bundled_config, load_session_config
    from mestudio.session_plan import create_session
    from mestudio.stream.bus import Endpoints, Publisher

    quick = getattr(args, "quick", False)
    rounds, seconds, rig_rounds, rig_s, paced_s = (
        (2, QUICK_PHASE_S, 1, QUICK_PHASE_S, 2.5) if quick else (6, PHASE_S, 3, RIG_RATE_PHASE_S, 6.0)
    )
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
        rig = RigProducer(pub)
        phases = _Phases(root, rig, recorder.pid, monitor.pid)
        phases.run(True, min(seconds, 1.0), None)  # warm-up (first buffers, the window's tiles): dropped
        without, with_window = _alternate(phases, rounds, seconds, None)
        rig_without, rig_with = _alternate(phases, rig_rounds, rig_s, RIG_FPS)
        paced = _paced(pub, "face", paced_s)
        time.sleep(1.2)  # the stats file is rewritten every second
        monitor.terminate()
        monitor.wait(30)
        stats = json.loads(stats_path.read_text())
        lat = stats["latency"].get("face", {})
        rig_stats = [v for sid, v in stats["streams"].items() if sid in rig.sids]
        taken = sum(v.get("frames_seen") or 0 for v in rig_stats)
        return {
            "frame": f"{RIG_CAMERAS} x {RIG_SHAPE[1]}x{RIG_SHAPE[0]} mono8 (the rig) for the recorder, "
            f"{FACE[1]}x{FACE[0]} at 60 fps for latency",
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
            **_throughput_bound(without, with_window, seconds),
            "rig_rate": _rig_rate(rig_without, rig_with, rig_s),
            "monitor": {
                "exit_code": monitor.returncode,
                "repaint_hz": stats["repaint_hz"],
                "rig_frames_drawn": sum(n for sid, n in stats["frames_drawn"].items() if sid in rig.sids),
                "rig_frames_received": taken,
                # of every rig frame sent while it ran or stood stopped (its queue drops at the sender)
                "fraction_of_rig_frames_received": round(taken / max(1, sum(rig.sent)), 3),
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
