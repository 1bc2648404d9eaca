"""Intel RealSense colour + depth through pyrealsense2: a live camera, or a recording played back.

``file`` names a recording (.db3 as pyrealsense2 2.55+ records, or an older .bag) to replay; it
is read at its own pace (``realtime``) or as fast as it is read, once or in a ``loop`` (frame
numbers continue across loops).  A recording is replayed sensor by sensor with the playback
paused until every sensor listens, so no frame is lost (the pipeline API's syncer sometimes
drops a recording's first frame set).  Frames carry the recording's frame numbers and
timestamps (ms in librealsense, sent as ns); depth is converted to mm with the sensor's depth
scale.  capture/realsense_recording.py writes face-rig recordings for the tests.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import ModuleType

import numpy as np

from mestudio.capture.errors import DeviceNotFoundError, SDKUnavailableError
from mestudio.capture.rgbd import RGBDCapture, RGBDDevice, RGBDFormat

INSTALL_HINT = "`pip install pyrealsense2` (Linux x86_64, Windows; on a Jetson build librealsense from source)"


def import_rs() -> ModuleType:
    try:
        import pyrealsense2 as rs
    except ImportError as e:
        raise SDKUnavailableError(
            f"RealSense capture needs pyrealsense2, not installed ({e}); {INSTALL_HINT}"
        ) from None
    return rs


def _intrinsics(profile) -> dict:
    i = profile.as_video_stream_profile().get_intrinsics()
    return {
        "width": i.width,
        "height": i.height,
        "fx": i.fx,
        "fy": i.fy,
        "ppx": i.ppx,
        "ppy": i.ppy,
        "model": str(i.model),
        "coeffs": list(i.coeffs),
    }


class RealSenseCamera(RGBDDevice):
    kind = "realsense"

    def playback_source(self) -> str | None:
        return self.spec.file or None

    def _open_source(self) -> RGBDFormat:
        rs = self._rs = import_rs()
        s = self.spec
        if s.file:
            if not Path(s.file).is_file():
                raise DeviceNotFoundError(f"{self.name}: RealSense recording {s.file!r} does not exist; fix `file`")
            self._device = rs.context().load_device(s.file)
            self._playback = self._device.as_playback()
            profiles = {}
            for sensor in self._device.query_sensors():
                for p in sensor.get_stream_profiles():
                    if p.stream_type() in (rs.stream.depth, rs.stream.color) and p.stream_type() not in profiles:
                        profiles[p.stream_type()] = (sensor, p)
        else:
            serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
            if not serials or (s.serial and s.serial not in serials):
                raise DeviceNotFoundError(
                    f"{self.name}: no RealSense camera{' ' + s.serial if s.serial else ''} attached "
                    f"(visible: {', '.join(serials) or 'none'}); plug it into a USB 3 port, or set `file` to replay"
                )
            self._pipe = rs.pipeline()
            active = self._pipe.start(self._live_config())  # resolve the streams once, then stop
            try:
                self._device = active.get_device()
                profiles = {p.stream_type(): (None, p) for p in active.get_streams()}
            finally:
                self._pipe.stop()
        if rs.stream.depth not in profiles or rs.stream.color not in profiles:
            raise DeviceNotFoundError(f"{self.name}: {s.file or 'the camera'} lacks a colour or a depth stream")
        self._profiles = profiles
        self._scale_mm = self._device.first_depth_sensor().get_depth_scale() * 1000.0
        cp, dp = profiles[rs.stream.color][1], profiles[rs.stream.depth][1]
        ci, di = _intrinsics(cp), _intrinsics(dp)
        calibration = {"color": ci, "depth": di, "depth_scale_mm": self._scale_mm}
        try:
            extr = dp.get_extrinsics_to(cp)
            calibration["depth_to_color"] = {"rotation": list(extr.rotation), "translation": list(extr.translation)}
        except RuntimeError:  # recordings made without extrinsics (software devices) have none
            calibration["depth_to_color"] = None
        return RGBDFormat(
            (ci["height"], ci["width"], 3),
            (di["height"], di["width"]),
            float(cp.fps()),
            calibration,
            {"file": s.file, "serial": s.serial},
        )

    def _live_config(self):
        rs, s = self._rs, self.spec
        config = rs.config()
        if s.serial:
            config.enable_device(s.serial)
        config.enable_stream(rs.stream.depth, s.width, s.height, rs.format.z16, int(s.fps))
        config.enable_stream(rs.stream.color, s.width, s.height, rs.format.rgb8, int(s.fps))
        return config

    def _start(self) -> None:
        self._seq_base = 0
        self._loop_len = 0
        if not self.spec.file:
            self._pipe.start(self._live_config())
            return
        self._queue = self._rs.frame_queue(64, keep_frames=True)
        self._playback.set_real_time(self.spec.realtime)
        self._start_sensors()

    def _start_sensors(self) -> None:
        """Play the file from its start with every sensor already listening."""
        sensors = [sp for sp in self._profiles.values()]
        for sensor, profile in sensors:
            sensor.open(profile)
        self._playback.pause()
        self._playback.seek(timedelta(0))
        for sensor, _ in sensors:
            sensor.start(self._queue)
        self._playback.resume()

    def _stop_sensors(self) -> None:
        for sensor, _ in self._profiles.values():
            sensor.stop()
            sensor.close()

    def _next_capture(self, timeout_s: float) -> RGBDCapture | None:
        if not self.spec.file:
            ok, fs = self._pipe.try_wait_for_frames(int(timeout_s * 1000))
            return self._capture(fs.get_depth_frame(), fs.get_color_frame()) if ok else None
        ok, f = self._queue.try_wait_for_frame(int(timeout_s * 1000))
        if ok:
            self._loop_len = max(self._loop_len, f.get_frame_number() + 1)
            return self._capture(
                f.as_depth_frame() if f.is_depth_frame() else None, None if f.is_depth_frame() else f.as_video_frame()
            )
        if self._playback.current_status() == self._rs.playback_status.stopped:
            if self.spec.loop and self._loop_len:
                self._stop_sensors()
                self._seq_base += self._loop_len  # numbers continue across loops
                self._start_sensors()
            else:
                self.finished = True
        return None

    def _capture(self, d, c) -> RGBDCapture:
        number = self._seq_base + (d or c).get_frame_number()
        depth = None
        if d:
            raw = np.asanyarray(d.get_data())
            depth = (
                raw.copy()
                if abs(self._scale_mm - 1.0) < 1e-9
                else np.clip(np.rint(raw * self._scale_mm), 0, 65535).astype(np.uint16)
            )
        color = np.array(np.asanyarray(c.get_data()), copy=True) if c else None
        return RGBDCapture(
            number,
            color,
            depth,
            int(c.get_timestamp() * 1e6) if c else None,
            int(d.get_timestamp() * 1e6) if d else None,
        )

    def _stop(self) -> None:
        if self.spec.file:
            self._stop_sensors()
        else:
            self._pipe.stop()
