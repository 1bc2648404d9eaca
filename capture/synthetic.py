"""Synthetic devices: real backends of the capture interface, paced by the host clock.

They publish like hardware does (own frame counter, own device clock) so every path after them
is exercised for real.  ``source = "pattern"`` gives the moving test pattern.
"""

from __future__ import annotations

import abc
import threading
import time

import numpy as np

from mestudio.capture.base import Device, Frame, Pacer, StreamInfo
from mestudio.capture.errors import DeviceFaultError, DeviceNotFoundError
from mestudio.capture.pattern import MovingPattern


def _frame_source(spec, height: int, width: int, channels: int, dtype, seed: int):
    if spec.source == "pattern":
        return MovingPattern(height, width, channels, dtype, seed=seed)
    raise DeviceNotFoundError(f'{spec.name}: unknown synthetic source {spec.source!r}; use source = "pattern"')


# A synthetic device is software, not a sensor with a small buffer: a reader that fell behind
# (a node starved of CPU while a session's processes all start on a loaded machine: the demo's
# devices stalled 1.1-1.4 s just after their first frame) gets every frame late, rendered for its
# own tick, instead of losing a second of them.  Past this it still drops, counted as gaps.
SYNTHETIC_MAX_LAG_S = 5.0


class _PacedDevice(Device):
    """Shared pacing: one tick of the Pacer gives one frame per stream."""

    rate_hz: float

    def _start(self) -> None:
        self.pacer = Pacer(self.rate_hz, max_lag_s=SYNTHETIC_MAX_LAG_S)
        self.pacer.start()

    def _read(self, timeout_s: float) -> list[Frame]:
        tick = self.pacer.wait(timeout_s)
        if tick is None:
            return []
        if getattr(self.spec, "fault", "") and tick >= self.spec.fault_after_frames:
            self._fail()
        self.dropped = self.pacer.skipped
        host = time.monotonic_ns()
        dev_t = self.device_time_ns(tick)
        return [
            Frame(info.stream_id, tick, host, data, dev_t, info.pixel_format)
            for info, data in zip(self.streams, self._render(tick))
        ]

    def device_time_ns(self, tick: int) -> int:
        return self.pacer.device_time_ns(tick)

    def _fail(self) -> None:
        """The fault the config asks for: a real failure of this open, seen only through read()."""
        if self.spec.fault == "hang":
            threading.Event().wait()  # a driver call that never returns
        raise DeviceFaultError(
            f"{self.name}: stopped delivering frames after {self.spec.fault_after_frames} "
            f"(fault = {self.spec.fault!r} in its config)"
        )

    @abc.abstractmethod
    def _render(self, tick: int) -> list[np.ndarray]:
        """One array per stream of ``self.streams`` for this tick."""


class SyntheticCamera(_PacedDevice):
    kind = "synthetic-camera"

    def _open(self) -> None:
        s = self.spec
        ch = 3 if s.pixel_format == "rgb8" else 1
        shape = (s.height, s.width, 3) if ch == 3 else (s.height, s.width)
        self.rate_hz = s.fps
        self._src = _frame_source(s, s.height, s.width, ch, np.uint8, seed=1)
        self.streams = [
            StreamInfo(s.name, "video", "|u1", shape, s.pixel_format, s.fps, self.kind, {"source": s.source})
        ]

    def _render(self, tick: int) -> list[np.ndarray]:
        return [self._src.frame(tick)]


class SyntheticRGBD(_PacedDevice):
    kind = "synthetic-rgbd"

    def _open(self) -> None:
        s = self.spec
        self.rate_hz = s.fps
        self._color = _frame_source(s, s.height, s.width, 3, np.uint8, seed=2)
        self._depth = _frame_source(s, s.height, s.width, 1, np.uint16, seed=3)
        self.streams = [
            StreamInfo(f"{s.name}-color", "video", "|u1", (s.height, s.width, 3), "rgb8", s.fps, self.kind),
            StreamInfo(
                f"{s.name}-depth",
                "depth",
                "<u2",
                (s.height, s.width),
                "depth16",
                s.fps,
                self.kind,
                {"depth_unit_mm": 1.0},
            ),
        ]

    def _render(self, tick: int) -> list[np.ndarray]:
        return [self._color.frame(tick), self._depth.frame(tick)]


class SyntheticArray(_PacedDevice):
    kind = "synthetic-array"

    def _open(self) -> None:
        s = self.spec
        self.rate_hz = s.fps
        self._views = [_frame_source(s, s.height, s.width, 1, np.uint8, seed=10 + i) for i in range(s.count)]
        self.streams = [
            StreamInfo(f"{s.name}-{i}", "video", "|u1", (s.height, s.width), "mono8", s.fps, self.kind, {"view": i})
            for i in range(s.count)
        ]

    def _render(self, tick: int) -> list[np.ndarray]:
        return [v.frame(tick) for v in self._views]


class SyntheticAudio(_PacedDevice):
    """Mono int16 blocks: a quiet 220 Hz tone and a 1 kHz beep of 50 ms every 2 s.

    ``seq`` is the block number and ``device_time_ns`` the time of its first sample on the
    sample clock, so any sample's time is known.  ``play_at`` mixes a sound into the track at a
    given sample, as a speaker beside a real microphone would (the sync chirp).
    """

    kind = "synthetic-audio"

    def _open(self) -> None:
        self._sounds: list[tuple[int, np.ndarray]] = []
        self._next_sample = 0
        self._sounds_lock = threading.Lock()
        s = self.spec
        self.rate_hz = s.rate / s.block
        self.streams = [
            StreamInfo(
                s.name,
                "audio",
                "<i2",
                (s.block, 1),
                "s16le",
                self.rate_hz,
                self.kind,
                {"sample_rate": s.rate, "channels": 1, "block": s.block},
            )
        ]

    def _render(self, tick: int) -> list[np.ndarray]:
        s = self.spec
        n = tick * s.block + np.arange(s.block)
        t = n / s.rate
        sig = 0.05 * np.sin(2 * np.pi * 220 * t)
        beep = (t % 2.0) < 0.05
        sig = sig + beep * 0.5 * np.sin(2 * np.pi * 1000 * t)
        self._mix_sounds(sig, int(n[0]))
        return [(np.clip(sig, -1, 1) * 32767).astype("<i2").reshape(s.block, 1)]

    def play_at(self, sample: int, wave: np.ndarray) -> None:
        """Mix ``wave`` (float, full scale 1) into the track from absolute sample ``sample`` on."""
        with self._sounds_lock:
            # asked too late for that sample: play it now, as a real speaker would (late, not lost)
            start = max(int(sample), self._next_sample)
            self._sounds.append((start, np.asarray(wave, np.float64)))

    def _mix_sounds(self, sig: np.ndarray, first: int) -> None:
        with self._sounds_lock:
            self._next_sample = first + len(sig)
            keep = []
            for start, wave in self._sounds:
                lo, hi = max(start, first), min(start + len(wave), first + len(sig))
                if lo < hi:
                    sig[lo - first : hi - first] += wave[lo - start : hi - start]
                if start + len(wave) > first + len(sig):
                    keep.append((start, wave))
            self._sounds = keep

    def device_time_ns(self, tick: int) -> int:
        return tick * self.spec.block * 1_000_000_000 // self.spec.rate
