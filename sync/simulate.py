"""Synthetic clocks with known truth, for the sync benchmark and tests.

Every stream has a true frame time t (ns on the host timeline), a device clock
``offset + (1 + drift) * t`` (or none), and an arrival time ``t + latency + delay`` where the
delay is non-negative (queueing) with the given standard deviation.  Truth for a corrected
timestamp is ``t + latency``: the constant part of the transport latency cannot be observed by
any method from timestamps alone, so the timeline is defined by the fastest path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SimStream:
    stream_id: str
    rate_hz: float
    seq: np.ndarray
    device_ns: np.ndarray | None
    host_ns: np.ndarray
    truth_ns: np.ndarray
    drift_ppm: float
    reset_at: int | None = None  # position of the first frame after a clock reset


def simulate_stream(
    stream_id: str,
    rate_hz: float,
    duration_s: float,
    *,
    rng: np.random.Generator,
    offset_s: float = 0.0,
    drift_ppm: float = 100.0,
    jitter_ms: float = 2.0,
    latency_ms: float = 3.0,
    drop_fraction: float = 0.01,
    has_device_time: bool = True,
    reset_at_s: float | None = None,
    reset_offset_s: float = 0.0,
    start_s: float = 1.0,
) -> SimStream:
    """One stream; the device's own clock drifts by ``drift_ppm`` against the host clock.

    Frames are made every ``1/rate_hz`` of *device* time (the device's crystal sets the pace), so
    the true host-time spacing is stretched by the drift.  ``reset_at_s`` resets the device (its
    clock restarts at ``reset_offset_s`` and its frame counter at 0).
    """
    period_dev = 1e9 / rate_hz
    n = int(duration_s * rate_hz)
    k = np.arange(n)
    dev_local = k * period_dev  # device time since its start
    true = start_s * 1e9 + dev_local / (1 + drift_ppm * 1e-6)
    seq = k.copy()
    device = offset_s * 1e9 + dev_local
    reset_pos = None
    if reset_at_s is not None:
        reset_pos = int(np.searchsorted(true, start_s * 1e9 + reset_at_s * 1e9))
        # a reset takes a moment: the device is silent for 0.3 s, then counts from zero again
        gap = int(0.3 * rate_hz)
        keep = np.ones(n, bool)
        keep[reset_pos : reset_pos + gap] = False
        seq[reset_pos:] = k[reset_pos:] - (reset_pos + gap)
        device[reset_pos:] = reset_offset_s * 1e9 + (k[reset_pos:] - (reset_pos + gap)) * period_dev
        reset_pos_after = reset_pos
    else:
        keep = np.ones(n, bool)
    # random drops (never the first frames, so every segment starts with a frame)
    drops = rng.random(n) < drop_fraction
    drops[:2] = False
    keep &= ~drops
    # one-sided delays whose standard deviation is jitter_ms (exponential: std = mean)
    delay = rng.exponential(jitter_ms * 1e6, n)
    host = true + latency_ms * 1e6 + delay
    sel = np.flatnonzero(keep)
    if reset_pos is not None:
        reset_pos = int(np.searchsorted(sel, reset_pos_after))
    return SimStream(
        stream_id,
        rate_hz,
        seq[sel],
        np.rint(device[sel]).astype(np.int64) if has_device_time else None,
        np.rint(host[sel]).astype(np.int64),
        np.rint(true[sel] + latency_ms * 1e6).astype(np.int64),
        drift_ppm,
        reset_pos,
    )


def simulate_rig(
    duration_s: float,
    seed: int = 0,
    jitter_ms: float = 2.0,
    drift_ppm: float = 100.0,
    drop_fraction: float = 0.01,
    reset: bool = True,
) -> list[SimStream]:
    """The study's rig in miniature: audio blocks, a 60 Hz camera with a reset, Kinect, a webcam."""
    rng = np.random.default_rng(seed)
    return [
        # audio blocks of 800 samples at 48 kHz: 60 blocks/s, device time = sample clock
        simulate_stream(
            "mic",
            60.0,
            duration_s,
            rng=rng,
            offset_s=0.0,
            drift_ppm=drift_ppm,
            jitter_ms=jitter_ms,
            drop_fraction=drop_fraction / 4,
        ),
        simulate_stream(
            "face",
            60.0,
            duration_s,
            rng=rng,
            offset_s=1234.5,
            drift_ppm=-drift_ppm,
            jitter_ms=jitter_ms,
            drop_fraction=drop_fraction,
            reset_at_s=duration_s / 2 if reset else None,
            reset_offset_s=0.0,
        ),
        simulate_stream(
            "kinect-color",
            30.0,
            duration_s,
            rng=rng,
            offset_s=-50.25,
            drift_ppm=drift_ppm / 2,
            jitter_ms=jitter_ms,
            drop_fraction=drop_fraction,
        ),
        # a camera without a clock of its own: placed by its frame counter at the nominal rate
        simulate_stream(
            "webcam",
            30.0,
            duration_s,
            rng=rng,
            drift_ppm=drift_ppm,
            jitter_ms=jitter_ms,
            drop_fraction=drop_fraction,
            has_device_time=False,
        ),
    ]
