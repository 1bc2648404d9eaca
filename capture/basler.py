"""Basler cameras through pypylon: an array of N cameras grabbed as one device.

Each camera is a stream ``<name>-<i>``.  ``seq`` is the camera's BlockID (a gap is a lost
frame, counted in ``dropped``), ``device_time_ns`` its TimeStamp when the camera gives one (the
pylon emulator always says 0, so there it is None) and ``host_time_ns`` the host clock at
retrieval.  ``PYLON_CAMEMU=N`` (set before pypylon is imported) gives N emulated cameras; with
``emulated_images = "face"`` they show views of the synthetic face rig (see basler_images.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import ModuleType

import numpy as np

from mestudio.capture.base import Device, Frame, Pacer, StreamInfo
from mestudio.capture.errors import DeviceNotFoundError, DeviceStateError, SDKUnavailableError

INSTALL_HINT = (
    "install it with `pip install pypylon` (it bundles the pylon runtime); on a lab "
    "machine also install Basler's pylon Software Suite for the GigE filter driver"
)
STRATEGIES = {
    "one-by-one": "GrabStrategy_OneByOne",
    "latest-only": "GrabStrategy_LatestImageOnly",
    "latest": "GrabStrategy_LatestImages",
    "upcoming": "GrabStrategy_UpcomingImage",
}


def import_pylon() -> tuple[ModuleType, ModuleType]:
    try:
        from pypylon import genicam, pylon
    except ImportError as e:
        raise SDKUnavailableError(
            f"Basler cameras need pypylon, which is not installed ({e}); {INSTALL_HINT}"
        ) from None
    return pylon, genicam


def _set_first(camera, names: tuple[str, ...], value) -> str | None:
    """Set the first writable node of ``names`` (SFNC 1 and 2 cameras name features differently)."""
    from pypylon import genicam

    nodemap = camera.GetNodeMap()
    for n in names:
        try:
            node = nodemap.GetNode(n)
        except Exception:  # absent feature
            continue
        if node is not None and genicam.IsWritable(node):
            node.SetValue(value) if hasattr(node, "SetValue") else node.FromString(str(value))
            return n
    return None


class BaslerArray(Device):
    kind = "basler-array"
    trigger_timeouts = 0
    # where to copy a frame out of its grab buffer (a slot of the node's shared-memory ring,
    # Publisher.frame_buffer); None, or it returning None: a buffer of the frame's own
    frame_buffer: Callable[[int], np.ndarray | None] | None = None

    def _open(self) -> None:
        pylon, genicam = import_pylon()
        s = self.spec
        if s.emulate:  # pylon reads PYLON_CAMEMU each time it enumerates
            os.environ["PYLON_CAMEMU"] = str(max(s.count, int(os.environ.get("PYLON_CAMEMU") or 0)))
        tl = pylon.TlFactory.GetInstance()
        found = [d for d in tl.EnumerateDevices() if not s.emulate or d.GetDeviceClass() == "BaslerCamEmu"]
        chosen = self._choose(found)
        self._pylon = pylon
        self._array = pylon.InstantCameraArray(len(chosen))
        try:
            for cam, info in zip(self._array, chosen):
                cam.Attach(tl.CreateDevice(info))
            self._array.Open()
            self._emulated = [info.GetDeviceClass() == "BaslerCamEmu" for info in chosen]
            image_dirs = self._emulator_images(len(chosen))
            for i, cam in enumerate(self._array):
                cam.SetCameraContext(i)
                self._configure(cam, image_dirs[i] if image_dirs else None)
        except genicam.GenericException as e:
            self._array.Close()
            raise DeviceNotFoundError(
                f"{self.name}: cannot configure the Basler cameras: {e.GetDescription()}"
            ) from None
        self._tick_hz = [self._tick_frequency(c) for c in self._array]
        self.streams = [
            StreamInfo(
                f"{self.name}-{i}",
                "video",
                "|u1",
                (s.height, s.width),
                "mono8",
                s.fps,
                self.kind,
                {
                    "serial": info.GetSerialNumber(),
                    "model": info.GetModelName(),
                    "emulated": self._emulated[i],
                    "exposure_us": s.exposure_us,
                    "gain_db": s.gain_db,
                    "trigger": s.trigger,
                    "grab_strategy": s.grab_strategy,
                },
            )
            for i, info in enumerate(chosen)
        ]
        self._last_block = [-1] * len(chosen)
        self.gaps = [0] * len(chosen)

    def _choose(self, found: list) -> list:
        s = self.spec
        if s.serials:
            by_serial = {d.GetSerialNumber(): d for d in found}
            missing = [x for x in s.serials if x not in by_serial]
            if missing:
                raise DeviceNotFoundError(
                    f"{self.name}: Basler camera(s) {', '.join(missing)} not found (visible: "
                    f"{', '.join(by_serial) or 'none'}); check cables/power and the serials in the config"
                )
            return [by_serial[x] for x in s.serials]
        if len(found) < s.count:
            raise DeviceNotFoundError(
                f"{self.name}: {s.count} Basler cameras configured, {len(found)} visible; connect them, "
                "or set PYLON_CAMEMU=N before starting mestudio to use pylon's camera emulation"
            )
        return found[: s.count]

    def _emulator_images(self, n: int) -> list[str] | None:
        src = self.spec.emulated_images
        if not src or not any(self._emulated):
            return None
        if src == "face":
            from mestudio.capture.basler_images import face_view_folders

            return [str(p) for p in face_view_folders(n, self.spec.width, self.spec.height)]
        if src == "face3d":
            from mestudio.capture.basler_images import face3d_view_folders

            return [str(p) for p in face3d_view_folders(n, self.spec.width, self.spec.height)]
        if not os.path.exists(src):
            raise DeviceNotFoundError(
                f"{self.name}: emulated_images {src!r} does not exist; give a "
                'folder of BMP images, one image, "face" or "face3d"'
            )
        return [src] * n

    def _configure(self, cam, image_dir: str | None) -> None:
        s = self.spec
        for node, value in (("Width", s.width), ("Height", s.height)):
            feat = getattr(cam, node)
            if value > feat.Max:
                raise DeviceNotFoundError(f"{self.name}: {node} {value} exceeds the camera's maximum {feat.Max}")
            feat.Value = value
        cam.PixelFormat.Value = s.pixel_format
        software = s.trigger == "software"
        _set_first(cam, ("TriggerSelector",), "FrameStart")
        _set_first(cam, ("TriggerMode",), "On" if software else "Off")
        if software:
            _set_first(cam, ("TriggerSource",), "Software")
        _set_first(cam, ("AcquisitionFrameRateEnable",), not software)
        if not software:
            _set_first(cam, ("AcquisitionFrameRateAbs", "AcquisitionFrameRate"), float(s.fps))
        _set_first(cam, ("ExposureTimeAbs", "ExposureTime"), float(s.exposure_us))
        _set_first(cam, ("Gain", "GainAbs"), float(s.gain_db))
        # ~0.25 s of frames absorbs a slow reader; more buffers cost fps (measured on the emulator)
        cam.MaxNumBuffer.Value = max(10, int(s.fps / 4))
        if image_dir:
            _set_first(cam, ("TestImageSelector",), "Off")
            _set_first(cam, ("ImageFileMode",), "On")
            _set_first(cam, ("ImageFilename",), image_dir)

    @staticmethod
    def _tick_frequency(cam) -> float:
        """Device ticks per second of TimeStamp (GigE: GevTimestampTickFrequency; USB3: 1 GHz)."""
        from pypylon import genicam

        try:
            node = cam.GetNodeMap().GetNode("GevTimestampTickFrequency")
            if node is not None and genicam.IsReadable(node):
                return float(node.GetValue())
        except Exception:  # feature absent
            pass
        return 1e9

    # -- grabbing --------------------------------------------------------------------------
    def _start(self) -> None:
        strategy = getattr(self._pylon, STRATEGIES[self.spec.grab_strategy])
        self._array.StartGrabbing(strategy)
        # software triggers: paced here, unless the sync master paces them (external_trigger)
        self._pacer = Pacer(self.spec.fps) if self.spec.trigger == "software" and not self.external_trigger else None
        if self._pacer:
            self._pacer.start()

    def trigger(self, timeout_ms: int = 100) -> bool:
        """Fire one software trigger on every camera (all wait until ready); False on timeout."""
        if self.state != "running":
            raise DeviceStateError(f"{self.name}: trigger() needs a started device (state: {self.state})")
        ok = True
        for cam in self._array:
            if cam.WaitForFrameTriggerReady(timeout_ms, self._pylon.TimeoutHandling_Return):
                cam.ExecuteSoftwareTrigger()
            else:
                ok = False
        return ok

    def software_trigger(self) -> None:
        """One trigger from the sync master (audio-clock paced); a camera not ready counts a drop."""
        if not self.trigger():
            self.trigger_timeouts += 1

    def _read(self, timeout_s: float) -> list[Frame]:
        if self._pacer is not None:  # self-paced software triggering
            if self._pacer.wait(timeout_s) is None:
                return []
            self.trigger()
        frames: list[Frame] = []
        deadline = time.monotonic() + timeout_s
        wait_ms = int(timeout_s * 1000)
        while len(frames) < len(self.streams):
            res = self._array.RetrieveResult(wait_ms, self._pylon.TimeoutHandling_Return)
            if res is None or not res.IsValid():
                break
            try:
                f = self._frame(res)
                if f is not None:
                    frames.append(f)
            finally:
                res.Release()
            # after the first frame only collect what is already there (or nearly)
            wait_ms = max(0, min(5, int((deadline - time.monotonic()) * 1000)))
        return frames

    def _frame(self, res) -> Frame | None:
        host = time.monotonic_ns()
        i = res.GetCameraContext()
        block = int(res.BlockID)
        if not res.GrabSucceeded():
            self.dropped += 1  # an incomplete frame: counted, not published
            self._last_block[i] = block
            return None
        last = self._last_block[i]
        if last >= 0 and block > last + 1:
            self.gaps[i] += block - last - 1
            self.dropped += block - last - 1
        self._last_block[i] = block
        ts = int(res.TimeStamp)
        dev_t = None if ts == 0 else int(ts * (1e9 / self._tick_hz[i]))
        # a copy: the grab buffer goes back to pylon; into a slot of the node's shared-memory ring
        # when it has one (frame_buffer, set by capture/node.py), so that one copy serves the recorder
        with res.GetArrayZeroCopy() as grabbed:
            slot = self.frame_buffer(grabbed.nbytes) if self.frame_buffer is not None else None
            if slot is None:
                data = grabbed.copy()
            else:
                data = slot.reshape(grabbed.shape)
                np.copyto(data, grabbed)
            del grabbed  # pypylon refuses to leave the block while the grab buffer is referenced
        return Frame(self.streams[i].stream_id, block, host, data, dev_t, "mono8")

    def _stop(self) -> None:
        self._array.StopGrabbing()

    def _close(self) -> None:
        self._array.Close()
        self._array.DetachDevice()
