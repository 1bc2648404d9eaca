"""Azure Kinect (and Orbbec Femto Bolt through Orbbec's K4A wrapper) via pyk4a.

Colour (converted BGRA -> RGB) and depth (mm) with their device timestamps (microseconds in
pyk4a, sent as ns); the factory calibration JSON is saved beside the recording.  With
``playback`` set, an MKV recorded by k4arecorder is replayed instead of a live device.

pyk4a needs Microsoft's Azure Kinect Sensor SDK (libk4a), which Debian 12 does not package: see
docs/capture.md.  Without it this backend raises SDKUnavailableError naming what to install.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np

from mestudio.capture.errors import DeviceNotFoundError, SDKUnavailableError
from mestudio.capture.rgbd import RGBDCapture, RGBDDevice, RGBDFormat

INSTALL_HINT = (
    "pyk4a needs Microsoft's Azure Kinect Sensor SDK: on Ubuntu 18.04/20.04 `apt install k4a-tools "
    "libk4a1.4-dev` from packages.microsoft.com (Femto Bolt: Orbbec's K4A wrapper, github.com/orbbec/"
    "OrbbecSDK-K4A-Wrapper), then `pip install pyk4a`; see docs/capture.md"
)
RESOLUTIONS = {
    "720p": "RES_720P",
    "1080p": "RES_1080P",
    "1440p": "RES_1440P",
    "1536p": "RES_1536P",
    "2160p": "RES_2160P",
    "3072p": "RES_3072P",
}
COLOR_SHAPES = {
    "720p": (720, 1280),
    "1080p": (1080, 1920),
    "1440p": (1440, 2560),
    "1536p": (1536, 2048),
    "2160p": (2160, 3840),
    "3072p": (3072, 4096),
}
DEPTH_SHAPES = {
    "nfov_unbinned": (576, 640),
    "nfov_2x2binned": (288, 320),
    "wfov_2x2binned": (512, 512),
    "wfov_unbinned": (1024, 1024),
}


def import_pyk4a() -> ModuleType:
    try:
        import pyk4a
    except ImportError as e:
        raise SDKUnavailableError(
            f"Azure Kinect capture needs pyk4a, which is not installed here ({e}); {INSTALL_HINT}"
        ) from None
    return pyk4a


def _usec_to_ns(us) -> int | None:
    return int(us) * 1000 if us else None


class KinectCamera(RGBDDevice):
    kind = "kinect"

    def playback_source(self) -> str | None:
        return self.spec.playback or None

    def _open_source(self) -> RGBDFormat:
        pyk4a = import_pyk4a()
        s = self.spec
        self._pyk4a = pyk4a
        if s.playback:
            if not Path(s.playback).is_file():
                raise DeviceNotFoundError(
                    f"{self.name}: Kinect recording {s.playback!r} does not exist; fix `playback`"
                )
            self._k4a = pyk4a.PyK4APlayback(s.playback)
            self._k4a.open()
            calibration = json.loads(self._k4a.calibration_raw)
            self._number = 0
        else:
            config = pyk4a.Config(
                color_resolution=getattr(pyk4a.ColorResolution, RESOLUTIONS[s.color_resolution]),
                depth_mode=getattr(pyk4a.DepthMode, s.depth_mode.upper()),
                camera_fps=getattr(pyk4a.FPS, f"FPS_{s.fps}"),
                color_format=pyk4a.ImageFormat.COLOR_BGRA32,
                synchronized_images_only=True,
            )
            self._k4a = pyk4a.PyK4A(config, device_id=s.device_index)
            try:
                self._k4a.open()
            except pyk4a.K4AException as e:
                raise DeviceNotFoundError(
                    f"{self.name}: no Azure Kinect at index {s.device_index} ({e}); "
                    "check USB 3 cable and power, and run k4aviewer"
                ) from None
            calibration = json.loads(self._k4a.calibration_raw)
        color = COLOR_SHAPES[s.color_resolution]
        return RGBDFormat(
            (*color, 3),
            DEPTH_SHAPES[s.depth_mode],
            float(s.fps),
            calibration,
            {"color_resolution": s.color_resolution, "depth_mode": s.depth_mode, "playback": s.playback},
        )

    def _start(self) -> None:
        if not self.spec.playback:
            self._k4a.start()

    def _next_capture(self, timeout_s: float) -> RGBDCapture | None:
        pyk4a = self._pyk4a
        if self.spec.playback:
            try:
                cap = self._k4a.get_next_capture()
            except EOFError:
                self.finished = True
                return None
            self._number += 1
            number = self._number
        else:
            try:
                cap = self._k4a.get_capture(timeout=int(timeout_s * 1000))
            except pyk4a.K4ATimeoutException:
                return None
            # the k4a API has no frame counter: count captures by device time at the frame rate
            number = int(round(cap.depth_timestamp_usec * self.spec.fps / 1e6))
        color = cap.color
        rgb = None if color is None else np.ascontiguousarray(color[..., 2::-1])
        return RGBDCapture(
            number, rgb, cap.depth, _usec_to_ns(cap.color_timestamp_usec), _usec_to_ns(cap.depth_timestamp_usec)
        )

    def _stop(self) -> None:
        if not self.spec.playback:
            self._k4a.stop()  # stops the cameras and closes the device; start() reopens it

    def _close(self) -> None:
        if self.spec.playback:
            self._k4a.close()
        elif self._k4a.opened:  # pyk4a's stop() already closes the device
            self._k4a.close()
