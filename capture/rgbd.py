"""What every colour + depth backend shares (Kinect, RealSense): two streams, one capture loop.

A backend provides ``_open_source()`` and ``_next_capture(timeout_s)``; this base turns each
capture into frames ``<name>-color`` (rgb8) and ``<name>-depth`` (depth16, millimetres),
counts lost captures from the source's frame numbers, and saves the calibration beside the
recording (``<session>/calibration/<name>.json``) when ``session_dir`` is set.
"""

from __future__ import annotations

import abc
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mestudio.capture.base import Device, Frame, StreamInfo


@dataclass
class RGBDCapture:
    """One capture from the source; either image may be missing (unsynchronised modes)."""

    frame_number: int
    color_rgb: np.ndarray | None
    depth_mm: np.ndarray | None
    color_time_ns: int | None = None
    depth_time_ns: int | None = None


@dataclass
class RGBDFormat:
    color_shape: tuple[int, int, int]
    depth_shape: tuple[int, int]
    fps: float
    calibration: dict
    settings: dict


class RGBDDevice(Device):
    def _open(self) -> None:
        fmt = self._open_source()
        self.calibration = fmt.calibration
        base = {**fmt.settings, "calibration": fmt.calibration}
        self.streams = [
            StreamInfo(f"{self.name}-color", "video", "|u1", fmt.color_shape, "rgb8", fmt.fps, self.kind, base),
            StreamInfo(
                f"{self.name}-depth",
                "depth",
                "<u2",
                fmt.depth_shape,
                "depth16",
                fmt.fps,
                self.kind,
                {**base, "depth_unit_mm": 1.0},
            ),
        ]
        self.finished = False
        self._last_number: dict[str, int] = {}
        self.repeated = 0  # frames the source delivered twice (not published again)
        if self.session_dir:
            path = Path(self.session_dir) / "calibration" / f"{self.name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(fmt.calibration, indent=1), encoding="utf-8")

    def start(self) -> None:
        if self.state == "open":  # each start is a new run of frame numbers (a replay restarts at 0)
            self._last_number = {}
            self.finished = False
        super().start()

    def _read(self, timeout_s: float) -> list[Frame]:
        if self.finished:
            time.sleep(min(timeout_s, 0.05))
            return []
        cap = self._next_capture(timeout_s)
        if cap is None:
            return []
        host = time.monotonic_ns()
        n = cap.frame_number
        out = []
        if cap.color_rgb is not None and self._is_new("color", n):
            out.append(
                Frame(f"{self.name}-color", n, host, np.ascontiguousarray(cap.color_rgb), cap.color_time_ns, "rgb8")
            )
        if cap.depth_mm is not None and self._is_new("depth", n):
            out.append(
                Frame(
                    f"{self.name}-depth",
                    n,
                    host,
                    np.ascontiguousarray(cap.depth_mm, dtype="<u2"),
                    cap.depth_time_ns,
                    "depth16",
                )
            )
        return out

    def _is_new(self, stream: str, n: int) -> bool:
        """False for a frame already delivered (a frame syncer may repeat one in the next set);
        a jump in a stream's frame number is that many lost frames of that stream."""
        last = self._last_number.get(stream, -1)
        if n <= last:
            self.repeated += 1
            return False
        if last >= 0 and n > last + 1:
            self.dropped += n - last - 1
        self._last_number[stream] = n
        return True

    # -- hooks ---------------------------------------------------------------------------
    @abc.abstractmethod
    def _open_source(self) -> RGBDFormat:
        """Open the camera or recording; what its colour and depth frames are."""

    @abc.abstractmethod
    def _next_capture(self, timeout_s: float) -> RGBDCapture | None:
        """The next capture, or None on timeout; set ``self.finished`` at the end of a recording."""
