"""UVC webcams and video files through OpenCV.

``source`` is a camera index ("0") or a video file path.  File frames are paced at the file's
frame rate like a camera and carry their media timestamp (``CAP_PROP_POS_MSEC``) as device time;
``seq`` is the frame index (continuing across loops).  At the end of a file without ``loop``
the device reports ``finished`` and returns no more frames.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from mestudio.capture.base import Device, Frame, Pacer, StreamInfo
from mestudio.capture.errors import DeviceNotFoundError


class OpenCVCamera(Device):
    kind = "opencv"

    def playback_source(self) -> str | None:
        return None if self.spec.source.isdigit() else self.spec.source

    def _open(self) -> None:
        s = self.spec
        self.is_file = not s.source.isdigit()
        if self.is_file and not Path(s.source).is_file():
            raise DeviceNotFoundError(
                f"{self.name}: video file {s.source!r} does not exist; fix `source` "
                '(a camera index like "0" or a video file path)'
            )
        self._cap = cv2.VideoCapture(s.source if self.is_file else int(s.source))
        if not self._cap.isOpened():
            self._cap.release()
            what = (
                f"video file {s.source!r} (not a format FFmpeg reads?)"
                if self.is_file
                else f"camera {s.source} (no /dev/video{s.source}: is it plugged in, and is the user in group video?)"
            )
            raise DeviceNotFoundError(f"{self.name}: OpenCV cannot open {what}")
        if not self.is_file:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
            self._cap.set(cv2.CAP_PROP_FPS, s.fps)
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = self._cap.get(cv2.CAP_PROP_FPS) or s.fps
        self.rate_hz = float(fps if self.is_file else s.fps)
        mono = s.pixel_format == "mono8"
        shape = (h, w) if mono else (h, w, 3)
        self.streams = [
            StreamInfo(
                s.name,
                "video",
                "|u1",
                shape,
                s.pixel_format,
                self.rate_hz,
                self.kind,
                {"source": s.source, "file": self.is_file, "loop": s.loop},
            )
        ]
        self.finished = False

    def _start(self) -> None:
        self._pacer = Pacer(self.rate_hz) if self.is_file else None
        if self._pacer:
            self._pacer.start()
        self._seq_base = 0
        self._time_base_ns = 0
        self._last = (-1, -1)

    def _read(self, timeout_s: float) -> list[Frame]:
        if self.finished:
            time.sleep(min(timeout_s, 0.05))
            return []
        if self._pacer is not None and self._pacer.wait(timeout_s) is None:
            return []
        ok, img = self._cap.read()
        if not ok and self.is_file and self.spec.loop and self._last[0] >= 0:
            self._seq_base += self._last[0] + 1
            self._time_base_ns += self._last[1] + int(1e9 / self.rate_hz)
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, img = self._cap.read()
        if not ok:
            if self.is_file:
                self.finished = True
                return []
            raise DeviceNotFoundError(f"{self.name}: camera {self.spec.source} stopped delivering frames (unplugged?)")
        host = time.monotonic_ns()
        if self.spec.pixel_format == "mono8" and img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        if self.is_file:
            idx = int(self._cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1
            media_ns = int(round(self._cap.get(cv2.CAP_PROP_POS_MSEC) * 1e6))
            self._last = (idx, media_ns)
            seq, dev_t = self._seq_base + idx, self._time_base_ns + media_ns
        else:
            self._last = (self._last[0] + 1, 0)
            seq, dev_t = self._last[0], None
        return [Frame(self.spec.name, seq, host, np.ascontiguousarray(img), dev_t, self.spec.pixel_format)]

    def _close(self) -> None:
        self._cap.release()
