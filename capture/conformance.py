"""The checks every capture backend passes (synthetic, file, replay and hardware alike).

tests/test_capture_conformance.py runs them on every backend that runs on this machine;
``MESTUDIO_HARDWARE=1`` with the ``hardware`` marker reruns them on attached devices.  Each check
raises AssertionError with a message naming the device and what went wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mestudio.capture.base import Device, Frame
from mestudio.capture.errors import DeviceStateError


@dataclass
class StreamRun:
    """What one start..stop of a device delivered."""

    frames: dict[str, list[Frame]] = field(default_factory=dict)
    dropped: int = 0
    seconds: float = 0.0

    def seqs(self, sid: str) -> list[int]:
        return [f.seq for f in self.frames[sid]]


def collect(dev: Device, n_frames: int, timeout_s: float = 10.0) -> StreamRun:
    """Read until every stream has ``n_frames`` frames (or fail after ``timeout_s``)."""
    run = StreamRun({s.stream_id: [] for s in dev.streams})
    t0 = time.monotonic()
    while min(len(v) for v in run.frames.values()) < n_frames:
        if time.monotonic() - t0 > timeout_s:
            got = {k: len(v) for k, v in run.frames.items()}
            raise AssertionError(f"{dev.name}: only {got} frames in {timeout_s} s (wanted {n_frames} each)")
        for f in dev.read(0.5):
            assert f.stream_id in run.frames, f"{dev.name}: frame of undeclared stream {f.stream_id!r}"
            run.frames[f.stream_id].append(f)
    run.dropped = dev.dropped
    run.seconds = time.monotonic() - t0
    return run


def check_frames(dev: Device, run: StreamRun) -> None:
    """Frames match their StreamInfo; seq increases (gaps counted in ``dropped``); time is monotonic."""
    infos = {s.stream_id: s for s in dev.streams}
    for sid, frames in run.frames.items():
        info = infos[sid]
        gaps = 0
        for a, b in zip(frames, frames[1:]):
            assert b.seq > a.seq, f"{sid}: seq went from {a.seq} to {b.seq}"
            gaps += b.seq - a.seq - 1
            assert b.host_time_ns >= a.host_time_ns, f"{sid}: host time went back at seq {b.seq}"
            if a.device_time_ns is not None and b.device_time_ns is not None:
                assert b.device_time_ns > a.device_time_ns, f"{sid}: device time went back at seq {b.seq}"
        assert gaps <= run.dropped, f"{sid}: {gaps} frames missing from seq but dropped says {run.dropped}"
        f = frames[-1]
        assert tuple(f.data.shape) == tuple(info.shape), f"{sid}: frame shape {f.data.shape}, info says {info.shape}"
        assert f.data.dtype.str == info.dtype or f.data.dtype == info.dtype, (
            f"{sid}: frame dtype {f.data.dtype.str}, info says {info.dtype}"
        )
        assert f.pixel_format == info.pixel_format, f"{sid}: pixel format {f.pixel_format!r} vs {info.pixel_format!r}"


def check_lifecycle(make: Callable[[], Device], n_frames: int = 3, stop_within_s: float = 1.0) -> list[StreamRun]:
    """open/start/stop/close twice (each call made twice too), frames each time, quick stop."""
    runs = []
    dev = make()
    try:
        try:
            dev.read(0.01)
        except DeviceStateError:
            pass
        else:
            raise AssertionError(f"{dev.name}: read() before open() did not raise DeviceStateError")
        for _ in range(2):
            dev.open()
            dev.open()
            assert dev.state == "open", dev.state
            dev.start()
            dev.start()
            run = collect(dev, n_frames)
            check_frames(dev, run)
            runs.append(run)
            t = time.monotonic()
            dev.stop()
            dev.stop()
            dt = time.monotonic() - t
            assert dt < stop_within_s, f"{dev.name}: stop() took {dt:.2f} s (limit {stop_within_s} s)"
            dev.close()
            dev.close()
            assert dev.state == "closed", dev.state
    finally:
        dev.close()
    # the context manager form the device node uses
    with make() as dev2:
        check_frames(dev2, collect(dev2, n_frames))
    assert dev2.state == "closed"
    return runs
