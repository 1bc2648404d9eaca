"""The face rig as devices: a mono camera, a colour + depth pair and a camera array.

They are the synthetic backends with ``source = "face"``.  All of them show one script (same
``seed``) so that every view of the rig sees the same expression at the same time when they share
``script_epoch_ns``; each writes the script to ``<session>/ground_truth/`` as ground truth.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path

import numpy as np

from mestudio.capture.base import StreamInfo
from mestudio.capture.face.render import FaceView, source_gray, source_rgb
from mestudio.capture.face.script import FaceScript, default_script
from mestudio.capture.synthetic import _PacedDevice

GROUND_TRUTH_DIR = "ground_truth"
SCRIPT_FILE = "face_script.json"
ENV_SESSION_DIR = "MESTUDIO_SESSION_DIR"
ENV_EPOCH = "MESTUDIO_SCRIPT_EPOCH_NS"
# script time 0 of the synthetic face rig, after the session's t0: time for every device to start
SCRIPT_LEAD_NS = 2_000_000_000


class _FaceDevice(_PacedDevice):
    """Shared script, script clock and ground-truth writing."""

    # the host CLOCK_MONOTONIC instant that is script time 0 (default: this device's first frame);
    # attach_session() puts it SCRIPT_LEAD_NS after the session's t0, the same for every view
    script_epoch_ns: int | None = None

    def attach_session(self, session_dir: Path, t0_host_ns: int) -> None:
        super().attach_session(session_dir, t0_host_ns)
        self.script_epoch_ns = t0_host_ns + SCRIPT_LEAD_NS

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self._script = default_script(spec.script_duration_s, spec.seed)
        self._epoch_ns = 0
        self._epoch_is_first_frame = False  # no shared epoch: script time 0 is this device's first frame
        self._last_tick = -1

    def ground_truth(self) -> FaceScript:
        """The script this device shows, with its epoch once started."""
        return self._script

    def _start(self) -> None:
        super()._start()
        env_epoch = os.environ.get(ENV_EPOCH)
        epoch = (
            self.script_epoch_ns
            if self.script_epoch_ns is not None
            else (int(env_epoch) if env_epoch else self.pacer.t0_ns)
        )
        self._epoch_ns = int(epoch)
        self._epoch_is_first_frame = self.script_epoch_ns is None and not env_epoch
        self._script.epoch_host_ns = self._epoch_ns
        self._script.device_t0_host_ns = self.pacer.t0_ns
        self._script.rendered_until_s = None
        self._last_tick = -1
        self._save_ground_truth()

    def _stop(self) -> None:
        if self._last_tick >= 0:
            self._script.rendered_until_s = round(self.script_time(self._last_tick), 6)
        self._save_ground_truth()

    def _save_ground_truth(self) -> list[Path]:
        root = self.session_dir or os.environ.get(ENV_SESSION_DIR)
        if not root:
            return []
        folder = Path(root) / GROUND_TRUTH_DIR
        return [self._script.save(folder / SCRIPT_FILE), self._script.save(folder / f"face_script-{self.name}.json")]

    def script_time(self, tick: int) -> float:
        """Script seconds at which frame ``tick`` is exposed (its host time minus the epoch)."""
        return (self.pacer.t0_ns + tick * self.pacer.period_ns - self._epoch_ns) / 1e9

    def _render(self, tick: int) -> list[np.ndarray]:
        if self._script.device_t0_host_ns != self.pacer.t0_ns:  # the pacer's clock began at the first read
            self._script.device_t0_host_ns = self.pacer.t0_ns
            if self._epoch_is_first_frame:
                self._epoch_ns = self._script.epoch_host_ns = self.pacer.t0_ns
            self._save_ground_truth()
        self._last_tick = tick
        return self._render_at(self.script_time(tick), tick)

    @abc.abstractmethod
    def _render_at(self, t: float, tick: int) -> list[np.ndarray]:
        """One array per stream of this device at script time ``t``."""


class SyntheticFaceCamera(_FaceDevice):
    """The frontal camera: mono8 (or rgb8) frames of the scripted face."""

    kind = "synthetic-camera"

    def _open(self) -> None:
        s = self.spec
        self.rate_hz = s.fps
        self._view = FaceView(s.width, s.height, 0.0, seed=s.seed + 1)
        self._rgb = s.pixel_format == "rgb8"
        self._src = source_rgb() if self._rgb else source_gray()
        self._view.warm(self._src)
        shape = (s.height, s.width, 3) if self._rgb else (s.height, s.width)
        self.streams = [
            StreamInfo(
                s.name, "video", "|u1", shape, s.pixel_format, s.fps, self.kind, {"source": "face", "seed": s.seed}
            )
        ]

    def _render_at(self, t: float, tick: int) -> list[np.ndarray]:
        return [self._view.render(self._script, t, tick, self._src)]


class SyntheticFaceRGBD(_FaceDevice):
    """A Kinect-like pair: rgb8 colour and registered depth16 (mm) of the same face."""

    kind = "synthetic-rgbd"

    def _open(self) -> None:
        s = self.spec
        self.rate_hz = s.fps
        self._view = FaceView(s.width, s.height, 0.0, seed=s.seed + 2)
        self._view.warm(source_rgb(), depth=True)
        self.streams = [
            StreamInfo(
                f"{s.name}-color",
                "video",
                "|u1",
                (s.height, s.width, 3),
                "rgb8",
                s.fps,
                self.kind,
                {"source": "face", "seed": s.seed},
            ),
            StreamInfo(
                f"{s.name}-depth",
                "depth",
                "<u2",
                (s.height, s.width),
                "depth16",
                s.fps,
                self.kind,
                {"source": "face", "depth_unit_mm": 1.0, "registered_to": f"{s.name}-color"},
            ),
        ]

    def _render_at(self, t: float, tick: int) -> list[np.ndarray]:
        smap = self._view.sampling_map(self._script, t)
        return [self._view.render(self._script, t, tick, source_rgb(), smap), self._view.render_depth(smap, tick)]


def view_yaws(count: int, span_deg: float = 30.0) -> list[float]:
    """Yaw of each camera of an array, spread evenly over +-span/2 (one camera: frontal)."""
    if count == 1:
        return [0.0]
    return [float(y) for y in np.linspace(-span_deg / 2, span_deg / 2, count)]


class SyntheticFaceArray(_FaceDevice):
    """N synchronised mono views of the face from different yaw angles (the 4D rig)."""

    kind = "synthetic-array"

    def _open(self) -> None:
        s = self.spec
        self.rate_hz = s.fps
        yaws = view_yaws(s.count)
        self._views = [FaceView(s.width, s.height, y, seed=s.seed + 10 + i) for i, y in enumerate(yaws)]
        for v in self._views:
            v.warm(source_gray())
        self.streams = [
            StreamInfo(
                f"{s.name}-{i}",
                "video",
                "|u1",
                (s.height, s.width),
                "mono8",
                s.fps,
                self.kind,
                {"view": i, "yaw_deg": yaws[i], "source": "face"},
            )
            for i in range(s.count)
        ]

    def _render_at(self, t: float, tick: int) -> list[np.ndarray]:
        return [v.render(self._script, t, tick, source_gray()) for v in self._views]
