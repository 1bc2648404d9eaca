"""Real-time check of the audio-clock trigger master, for `mestudio bench sync`.

The real synthetic audio backend delivers blocks in real time; ``LiveSync`` paces 60 Hz triggers
from them exactly as the sync node does (wait for the next due time or the next block).  The
baseline is a plain host timer ticking at 60 Hz (``capture.base.Pacer``, what a free-running
device uses), measured in the same run: it shows what the audio clock model adds to the lateness
of a software trigger.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np


def _stats(late_ns: list[int]) -> dict:
    a = np.asarray(late_ns, np.float64) / 1e6
    return {
        "triggers": int(len(a)),
        "late_p50_ms": round(float(np.median(a)), 3),
        "late_p99_ms": round(float(np.percentile(a, 99)), 3),
        "late_max_ms": round(float(np.max(a)), 3),
    }


def audio_paced(seconds: float) -> dict:
    from mestudio.capture.synthetic import SyntheticAudio
    from mestudio.config.schema import SessionConfig
    from mestudio.sync.live import LiveSync
    from mestudio.sync.settings import load_sync_settings

    cfg = SessionConfig.model_validate(
        {
            "devices": [
                {"name": "mic", "kind": "synthetic-audio", "rate": 48000, "block": 800},
                {"name": "rig", "kind": "basler-array", "count": 1, "trigger": "software"},
            ],
            "sync": {"enabled": True},
        }
    )
    live = LiveSync(cfg, load_sync_settings(cfg.sync))
    blocks: queue.Queue = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        with SyntheticAudio(cfg.devices[0]) as dev:
            while not stop.is_set():
                for f in dev.read(timeout_s=0.1):
                    blocks.put(f)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    late: list[int] = []

    def send_due() -> None:
        now = time.monotonic_ns()
        for _, _, _, due in live.due_triggers(now):
            late.append(now - due)

    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            nxt = live.next_due_ns()
            wait = 0.02 if nxt is None else min(0.02, max(0.0, (nxt - time.monotonic_ns()) / 1e9))
            try:
                f = blocks.get(timeout=wait)
            except queue.Empty:
                f = None
            send_due()  # before a block's model update, which may refit (a few ms)
            if f is not None:
                live.on_frame(f.stream_id, f.seq, f.host_time_ns, f.device_time_ns)
                send_due()
    finally:
        stop.set()
        t.join(2)
    return _stats(late[30:])  # the first half second is the audio clock's warm-up


def host_timer(seconds: float) -> dict:
    from mestudio.capture.base import Pacer

    p = Pacer(60.0)
    p.start()
    late = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tick = p.wait(0.1)
        if tick is not None:
            late.append(time.monotonic_ns() - (p.t0_ns + tick * p.period_ns))
    return _stats(late[30:])
