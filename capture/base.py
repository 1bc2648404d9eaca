"""The one small interface every device backend implements.

Lifecycle (python-sounddevice style): ``open() -> start() -> read()... -> stop() -> close()``;
``with device:`` opens and starts, and on exit stops then closes.  ``start``, ``stop`` and
``close`` are safe to call twice.  Nothing is cleaned up in ``__del__``.

Capabilities (config/device_kinds.py: ``Capability``) are methods declared here that raise
``CapabilityError``; a backend has a capability when it overrides its methods, and
``Device.capabilities`` says which it has, derived from the overrides (never probed with getattr).
"""

from __future__ import annotations

import abc
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mestudio.capture.errors import CapabilityError, DeviceStateError
from mestudio.config.device_kinds import Capability


@dataclass(frozen=True)
class StreamInfo:
    """What one stream of a device produces (separate from the sender and the receiver)."""

    stream_id: str
    media: str  # "video", "depth", "audio"; "signal" or "markers" for samples from another program (LSL)
    dtype: str  # numpy dtype string
    shape: tuple[int, ...]  # shape of one frame (audio: one block, samples x channels)
    pixel_format: str  # mono8, rgb8, depth16, s16le ...
    rate_hz: float  # frames (audio: blocks) per second
    device_kind: str
    settings: dict[str, Any] = field(default_factory=dict)  # sample_rate, serial, exposure ...
    device: str = ""  # the [[devices]] section (its name) that publishes the stream; set by Device.open()

    def to_json(self) -> dict:
        return {
            "stream_id": self.stream_id,
            "media": self.media,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "pixel_format": self.pixel_format,
            "rate_hz": self.rate_hz,
            "device_kind": self.device_kind,
            "device": self.device,
            "settings": self.settings,
        }


@dataclass(slots=True)
class Frame:
    """One frame (or audio block) as a device delivered it. Timestamps are raw data."""

    stream_id: str
    seq: int  # the device's own frame counter: a gap means a lost frame
    host_time_ns: int  # host monotonic clock at arrival
    data: np.ndarray
    device_time_ns: int | None = None  # the device clock, when it has one
    pixel_format: str = ""


# the Device methods a backend overrides to have each capability
CAPABILITY_METHODS: dict[Capability, str] = {
    Capability.SOFTWARE_TRIGGER: "software_trigger",
    Capability.SPEAKER: "play_at",
    Capability.PLAYBACK: "playback_source",
}


class Device(abc.ABC):
    """Base of every backend. Subclasses implement the ``_open/_start/_read/_stop/_close`` hooks."""

    kind: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.capabilities = frozenset(
            cap for cap, method in CAPABILITY_METHODS.items() if getattr(cls, method) is not getattr(Device, method)
        )

    def __init__(self, spec) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.streams: list[StreamInfo] = []
        self.dropped = 0  # frames the device itself lost (buffer overrun, skipped ticks)
        self.finished = False  # a playback device reached the end of its recording
        self.session_dir: Path | None = None  # the session folder, once attach_session() says it
        self.external_trigger = False  # another node sends the software triggers (pace_by_external_trigger)
        self._state = "closed"

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def open(self) -> Device:
        if self._state == "closed":
            self._open()
            self.streams = [dataclasses.replace(s, device=self.name) for s in self.streams]
            self._state = "open"
        return self

    def start(self) -> None:
        if self._state == "closed":
            raise DeviceStateError(f"{self.name}: start() before open()")
        if self._state == "open":
            self._start()
            self._state = "running"

    def read(self, timeout_s: float = 1.0) -> list[Frame]:
        """The next frames (one per stream that has one), or [] after ``timeout_s``."""
        if self._state != "running":
            raise DeviceStateError(f"{self.name}: read() needs a started device (state: {self._state})")
        return self._read(timeout_s)

    def stop(self) -> None:
        if self._state == "running":
            self._state = "open"
            self._stop()

    def close(self) -> None:
        self.stop()
        if self._state == "open":
            self._state = "closed"
            self._close()

    def __enter__(self) -> Device:
        self.open()
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the session and the capabilities ----------------------------------------------------
    def attach_session(self, session_dir: Path, t0_host_ns: int) -> None:
        """Before open(): the session folder (for calibration, ground truth) and its t0 on the host clock."""
        self.session_dir = Path(session_dir)

    def software_trigger(self) -> None:
        """Capability.SOFTWARE_TRIGGER: fire one trigger now (the sync master calls it on the audio clock)."""
        raise CapabilityError(f"{self.name}: the {self.kind} backend has no software trigger")

    def pace_by_external_trigger(self) -> None:
        """Capability.SOFTWARE_TRIGGER, before start(): another node sends the triggers; do not pace them here."""
        if Capability.SOFTWARE_TRIGGER not in self.capabilities:
            raise CapabilityError(f"{self.name}: the {self.kind} backend has no software trigger")
        if self._state == "running":
            raise DeviceStateError(f"{self.name}: pace_by_external_trigger() must come before start()")
        self.external_trigger = True

    def play_at(self, sample: int, wave: np.ndarray) -> None:
        """Capability.SPEAKER: mix ``wave`` (float, full scale 1) into the audio track from ``sample`` on."""
        raise CapabilityError(f"{self.name}: the {self.kind} backend cannot play sounds")

    def playback_source(self) -> str | None:
        """Capability.PLAYBACK: the recording this device replays (``finished`` at its end), None when live."""
        raise CapabilityError(f"{self.name}: the {self.kind} backend replays no recording")

    # -- hooks ---------------------------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> None:
        """Find and configure the device; fill ``self.streams``."""

    def _start(self) -> None:
        pass

    @abc.abstractmethod
    def _read(self, timeout_s: float) -> list[Frame]: ...

    def _stop(self) -> None:
        pass

    def _close(self) -> None:
        pass


class Pacer:
    """Ticks at a fixed rate on the host clock, like a free-running sensor, from the first read.

    A reader that falls more than ``max_lag_s`` behind loses the ticks it missed, as a camera
    whose buffer overflows would: they are counted in ``skipped`` and show as sequence gaps.
    """

    def __init__(self, rate_hz: float, max_lag_s: float = 1.0) -> None:
        self.period_ns = int(round(1e9 / rate_hz))
        self.max_lag_ticks = max(1, int(max_lag_s * rate_hz))
        self.t0_ns = 0
        self.next_tick = 0
        self.skipped = 0

    def start(self) -> None:
        self.t0_ns = time.monotonic_ns()
        self.next_tick = 0

    def wait(self, timeout_s: float) -> int | None:
        """Block until the next tick is due; return its number, or None on timeout."""
        due = self.t0_ns + self.next_tick * self.period_ns
        now = time.monotonic_ns()
        if self.next_tick == 0 and now > due:
            # the clock starts with the first read: a node that took long to get to it (a loaded
            # machine while a session's processes all start) lost no frame, none was made yet
            self.t0_ns = due = now
        if due - now > timeout_s * 1e9:
            time.sleep(timeout_s)
            return None
        if due > now:
            time.sleep((due - now) / 1e9)
        else:
            behind = (now - due) // self.period_ns
            if behind > self.max_lag_ticks:
                self.skipped += behind
                self.next_tick += behind
        tick = self.next_tick
        self.next_tick += 1
        return tick

    def device_time_ns(self, tick: int) -> int:
        return tick * self.period_ns
