"""Intel RealSense colour + depth through pyrealsense2: a live camera, or a recording played back.

``file`` names a recording (.db3 as pyrealsense2 2.55+ records, or an older .bag) to replay; it
is read at its own pace (``realtime``) or as fast as it is read.  Frames carry the recording's
frame numbers and timestamps (ms in librealsense, sent as ns).  Depth is converted to mm with the
sensor's depth scale.  capture/realsense_recording.py writes face-rig recordings for the tests.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from capture.errors import DeviceNotFoundError, SDKUnavailableError
from capture.rgbd import RGBDCapture, RGBDDevice, RGBDFormat

INSTALL_HINT = "`pip install pyrealsense2` (Linux x86_64, Windows; on a Jetson build librealsense from source)"


def import_rs() -> ModuleType:
    try:
        import pyrealsense2 as rs
    except ImportError as e:
        raise SDKUnavailableError(f"RealSense capture needs pyrealsense2, not installed ({e}); {INSTALL_HINT}") from None
    return rs


def _intrinsics(profile) -> dict:
    i = profile.as_video_stream_profile().get_intrinsics()
    return {"width": i.width, "height": i.height, "fx": i.fx, "fy": i.fy, "ppx": i.ppx, "ppy": i.ppy,
            "model": str(i.model), "coeffs": list(i.coeffs)}


class RealSenseCamera(RGBDDevice):
    kind = "realsense"

    def _open_source(self) -> RGBDFormat:
        rs = import_rs()
        s = self.spec
        self._rs = rs
        if s.file and not Path(s.file).is_file():
            raise DeviceNotFoundError(f"{self.name}: RealSense recording {s.file!r} does not exist; fix `file`")
        if not s.file:
            serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
            if not serials or (s.serial and s.serial not in serials):
                raise DeviceNotFoundError(
                    f"{self.name}: no RealSense camera{' ' + s.serial if s.serial else ''} attached "
                    f"(visible: {', '.join(serials) or 'none'}); plug it into a USB 3 port, or set `file` to replay")
        # resolve the streams once to learn their formats and calibration
        self._pipe = rs.pipeline()
        profile = self._pipe.start(self._make_config())
        try:
            streams = {p.stream_type(): p for p in profile.get_streams()}
            if rs.stream.depth not in streams or rs.stream.color not in streams:
                raise DeviceNotFoundError(f"{self.name}: {s.file or 'the camera'} lacks a colour or a depth stream")
            depth_sensor = profile.get_device().first_depth_sensor()
            self._scale_mm = depth_sensor.get_depth_scale() * 1000.0
            cp, dp = streams[rs.stream.color], streams[rs.stream.depth]
            ci, di = _intrinsics(cp), _intrinsics(dp)
            calibration = {"color": ci, "depth": di, "depth_scale_mm": self._scale_mm}
            try:
                extr = dp.get_extrinsics_to(cp)
                calibration["depth_to_color"] = {"rotation": list(extr.rotation), "translation": list(extr.translation)}
            except RuntimeError:  # recordings made without extrinsics (software devices) have none
                calibration["depth_to_color"] = None
            fps = float(cp.fps())
        finally:
            self._pipe.stop()
        return RGBDFormat((ci["height"], ci["width"], 3), (di["height"], di["width"]), fps, calibration,
                          {"file": s.file, "serial": s.serial})

    def _make_config(self):
        """A new config each start: a reused one replays a file that has already stopped."""
        rs, s = self._rs, self.spec
        config = rs.config()
        if s.file:
            config.enable_device_from_file(s.file, repeat_playback=s.loop)
            return config
        if s.serial:
            config.enable_device(s.serial)
        config.enable_stream(rs.stream.depth, s.width, s.height, rs.format.z16, int(s.fps))
        config.enable_stream(rs.stream.color, s.width, s.height, rs.format.rgb8, int(s.fps))
        return config

    def _start(self) -> None:
        profile = self._pipe.start(self._make_config())
        self._playback = None
        if self.spec.file:
            self._playback = profile.get_device().as_playback()
            self._playback.set_real_time(self.spec.realtime)

    def _next_capture(self, timeout_s: float) -> RGBDCapture | None:
        ok, fs = self._pipe.try_wait_for_frames(int(timeout_s * 1000))
        if not ok:
            if self._playback is not None and self._playback.current_status() == self._rs.playback_status.stopped:
                self.finished = True
            return None
        d, c = fs.get_depth_frame(), fs.get_color_frame()
        number = (d or c).get_frame_number()
        depth = None
        if d:
            raw = np.asanyarray(d.get_data())
            depth = raw.copy() if abs(self._scale_mm - 1.0) < 1e-9 else \
                np.clip(np.rint(raw * self._scale_mm), 0, 65535).astype(np.uint16)
        color = np.array(np.asanyarray(c.get_data()), copy=True) if c else None
        return RGBDCapture(number, color, depth,
                           int(c.get_timestamp() * 1e6) if c else None,
                           int(d.get_timestamp() * 1e6) if d else None)

    def _stop(self) -> None:
        self._pipe.stop()
