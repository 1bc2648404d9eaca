"""Any GenICam/GenTL camera through harvesters (the study's AVT Stingray via Vimba's producer).

``cti`` lists GenTL producer files (default: every .cti on GENICAM_GENTL64_PATH).  ``seq`` is
the buffer's frame id (a gap is a lost frame), ``device_time_ns`` the buffer timestamp when the
producer gives one.  The genicam wheel ships a simulator producer (``simulator_cti()``) that the
tests use.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from mestudio.capture.base import Device, Frame, StreamInfo
from mestudio.capture.errors import DeviceNotFoundError, SDKUnavailableError

INSTALL_HINT = (
    "`pip install harvesters genicam`, plus your camera vendor's GenTL producer (.cti): "
    "for Allied Vision install Vimba X and point `cti` at its VimbaFireWireTL.cti or VimbaGigETL.cti"
)


def simulator_cti() -> Path:
    """The simulated GenTL producer inside the genicam wheel (three colour cameras)."""
    import genicam

    return Path(genicam.__file__).parent / "viky.cti"


def default_ctis() -> list[str]:
    out = []
    for d in os.environ.get("GENICAM_GENTL64_PATH", "").split(os.pathsep):
        if d and Path(d).is_dir():
            out += sorted(str(p) for p in Path(d).glob("*.cti"))
    return out


class GenICamCamera(Device):
    kind = "genicam"

    def _open(self) -> None:
        try:
            from harvesters.core import Harvester
        except ImportError as e:
            raise SDKUnavailableError(f"GenICam cameras need harvesters ({e}); {INSTALL_HINT}") from None
        s = self.spec
        ctis = list(s.cti) or default_ctis()
        if not ctis:
            raise SDKUnavailableError(
                f"{self.name}: no GenTL producer: set `cti` in the config or GENICAM_GENTL64_PATH; {INSTALL_HINT}"
            )
        missing = [c for c in ctis if not Path(c).is_file()]
        if missing:
            raise SDKUnavailableError(f"{self.name}: GenTL producer {missing[0]} not found; {INSTALL_HINT}")
        self._h = Harvester()
        for c in ctis:
            self._h.add_file(c)
        self._h.update()
        serials = [d.serial_number for d in self._h.device_info_list]
        try:
            if s.serial:
                if s.serial not in serials:
                    raise DeviceNotFoundError(
                        f"{self.name}: no GenICam camera with serial {s.serial!r} "
                        f"(visible: {', '.join(serials) or 'none'}); check the camera and `serial`"
                    )
                self._ia = self._h.create({"serial_number": s.serial})
            else:
                if not serials:
                    raise DeviceNotFoundError(
                        f"{self.name}: the GenTL producer(s) {', '.join(ctis)} see no camera; check cables and power"
                    )
                self._ia = self._h.create(0)
            self._configure()
        except Exception:
            self._h.reset()
            raise
        info = self._h.device_info_list[serials.index(s.serial) if s.serial else 0]
        self.streams = [
            StreamInfo(
                s.name,
                "video",
                "|u1",
                (s.height, s.width),
                "mono8",
                s.fps,
                self.kind,
                {"serial": info.serial_number, "model": info.model, "vendor": info.vendor},
            )
        ]

    def _configure(self) -> None:
        s = self.spec
        nm = self._ia.remote_device.node_map
        try:
            nm.Width.value = s.width
            nm.Height.value = s.height
            nm.PixelFormat.value = s.pixel_format
        except Exception as e:  # GenICam raises its own exception types
            raise DeviceNotFoundError(
                f"{self.name}: the camera refuses {s.width}x{s.height} {s.pixel_format}: {e}"
            ) from None
        for name, value in (
            ("AcquisitionFrameRateEnable", True),
            ("AcquisitionFrameRate", float(s.fps)),
            ("AcquisitionFrameRateAbs", float(s.fps)),
        ):
            if hasattr(nm, name):
                try:
                    getattr(nm, name).value = value
                except Exception:  # optional feature, read-only on some cameras
                    pass
        self._ia.num_buffers = max(16, int(s.fps))

    def _start(self) -> None:
        self._ia.start()
        self._last_id = -1

    def _read(self, timeout_s: float) -> list[Frame]:
        try:
            buf = self._ia.fetch(timeout=timeout_s)
        except Exception as e:  # harvesters raises genicam.gentl.TimeoutException
            if "Timeout" in type(e).__name__:
                return []
            raise
        with buf:
            host = time.monotonic_ns()
            comp = buf.payload.components[0]
            data = np.array(comp.data, copy=True).reshape(comp.height, comp.width)
            fid = int(buf.frame_id)
            try:
                dev_t = int(buf.timestamp_ns) or None
            except Exception:  # the producer has no timestamps
                dev_t = None
        if self._last_id >= 0 and fid > self._last_id + 1:
            self.dropped += fid - self._last_id - 1
        self._last_id = fid
        return [Frame(self.spec.name, fid, host, data, dev_t, "mono8")]

    def _stop(self) -> None:
        self._ia.stop()

    def _close(self) -> None:
        self._ia.destroy()
        self._h.reset()
