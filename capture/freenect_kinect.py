"""Xbox 360 Kinect (the study's model) through libfreenect, or a recorded dump replayed by fakenect.

libfreenect's C API is called through ctypes; with ``dump`` set, Debian's fakenect library (the
same API) replays a folder recorded by ``fakenect-record`` (INDEX.txt, ``d-*.pgm`` raw 11-bit
depth, ``r-*.ppm`` RGB) at its recorded pace.  Frames: ``<name>-color`` rgb8 640x480 and
``<name>-depth`` in mm, converted from the 11-bit disparity with the OpenKinect approximation
``0.1236 m * tan(raw / 2842.5 + 1.1863)`` (raw 2047 = no reading = 0).  ``device_time_ns`` is the
Kinect's 60 MHz frame clock (32 bits, unwrapped); ``seq`` counts frame periods on it.

libfreenect keeps one global device state per process, so run one such device per process (the
device node does).  Debian's fakenect (0.5.3) plays a dump once per process, then the device
reports ``finished``; reopening in the same process continues where it stopped.  fakenect ends
the process when a file it expects is missing: the dump is checked before the library is loaded.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from pathlib import Path

import numpy as np

from mestudio.capture.errors import DeviceNotFoundError, SDKUnavailableError
from mestudio.capture.rgbd import RGBDCapture, RGBDDevice, RGBDFormat

LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
INSTALL_HINT = "`apt-get install libfreenect-dev libfreenect-bin` (Debian/Ubuntu; fakenect comes with them)"
TICKS_PER_S = 60_000_000
W, H = 640, 480
RESOLUTION_MEDIUM, DEPTH_11BIT, VIDEO_RGB = 1, 0, 0
NO_READING = 2047


class FrameMode(ctypes.Structure):
    _fields_ = [
        ("reserved", ctypes.c_uint32),
        ("resolution", ctypes.c_int),
        ("format", ctypes.c_int32),
        ("bytes", ctypes.c_int32),
        ("width", ctypes.c_int16),
        ("height", ctypes.c_int16),
        ("data_bits_per_pixel", ctypes.c_int8),
        ("padding_bits_per_pixel", ctypes.c_int8),
        ("framerate", ctypes.c_int8),
        ("is_valid", ctypes.c_int8),
    ]


CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32)


def raw_to_mm_table() -> np.ndarray:
    raw = np.arange(2048, dtype=np.float64)
    mm = 123.6 * np.tan(raw / 2842.5 + 1.1863)
    mm[(raw >= NO_READING) | (mm <= 0) | (mm > 10000)] = 0
    return np.round(mm).astype(np.uint16)


def mm_to_raw(mm: np.ndarray) -> np.ndarray:
    """Inverse of the table, for writing dumps (0 mm -> no reading)."""
    raw = (np.arctan(np.asarray(mm, np.float64) / 123.6) - 1.1863) * 2842.5
    out = np.clip(np.round(raw), 0, NO_READING - 1).astype(np.uint16)
    out[np.asarray(mm) == 0] = NO_READING
    return out


def check_dump(folder: Path) -> None:
    index = folder / "INDEX.txt"
    if not index.is_file():
        raise DeviceNotFoundError(f"fakenect dump {folder}: no INDEX.txt; record one with fakenect-record")
    for line in index.read_text().splitlines():
        if line.strip() and not (folder / line.strip()).is_file():
            raise DeviceNotFoundError(f"fakenect dump {folder}: INDEX.txt lists {line.strip()}, which is missing")


def _load(dump: str):
    lib_path = LIBDIR / "fakenect" / "libfreenect.so" if dump else LIBDIR / "libfreenect.so"
    if not lib_path.exists():
        raise SDKUnavailableError(f"Kinect 360 capture needs libfreenect ({lib_path} missing); install {INSTALL_HINT}")
    lib = ctypes.CDLL(str(lib_path))
    lib.freenect_init.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
    lib.freenect_open_device.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    lib.freenect_find_depth_mode.restype = FrameMode
    lib.freenect_find_depth_mode.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.freenect_find_video_mode.restype = FrameMode
    lib.freenect_find_video_mode.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.freenect_set_depth_mode.argtypes = [ctypes.c_void_p, FrameMode]
    lib.freenect_set_video_mode.argtypes = [ctypes.c_void_p, FrameMode]
    for fn in ("freenect_set_depth_callback", "freenect_set_video_callback"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p, CALLBACK]
    for fn in (
        "freenect_start_depth",
        "freenect_start_video",
        "freenect_stop_depth",
        "freenect_stop_video",
        "freenect_close_device",
    ):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
    lib.freenect_process_events.argtypes = [ctypes.c_void_p]
    lib.freenect_shutdown.argtypes = [ctypes.c_void_p]
    return lib


class FreenectKinect(RGBDDevice):
    kind = "freenect"

    def playback_source(self) -> str | None:
        return self.spec.dump or None

    def _open_source(self) -> RGBDFormat:
        s = self.spec
        if s.dump:
            check_dump(Path(s.dump))
            os.environ["FAKENECT_PATH"] = str(Path(s.dump).resolve())  # fakenect reads it in freenect_init
        self._lib = lib = _load(s.dump)
        self._ctx, self._dev = ctypes.c_void_p(), ctypes.c_void_p()
        if lib.freenect_init(ctypes.byref(self._ctx), None) < 0:
            raise SDKUnavailableError(f"{self.name}: libfreenect failed to initialise (USB access?); {INSTALL_HINT}")
        if lib.freenect_open_device(self._ctx, ctypes.byref(self._dev), s.device_index) < 0:
            lib.freenect_shutdown(self._ctx)
            raise DeviceNotFoundError(
                f"{self.name}: no Kinect 360 at index {s.device_index}; plug in its USB and "
                "power adapter (and add a udev rule for non-root access)"
            )
        lib.freenect_set_depth_mode(self._dev, lib.freenect_find_depth_mode(RESOLUTION_MEDIUM, DEPTH_11BIT))
        lib.freenect_set_video_mode(self._dev, lib.freenect_find_video_mode(RESOLUTION_MEDIUM, VIDEO_RGB))
        self._to_mm = raw_to_mm_table()
        self._callbacks = (CALLBACK(self._on_depth), CALLBACK(self._on_video))  # kept alive while open
        lib.freenect_set_depth_callback(self._dev, self._callbacks[0])
        lib.freenect_set_video_callback(self._dev, self._callbacks[1])
        calibration = {
            "depth_model": "mm = 123.6 * tan(raw / 2842.5 + 1.1863)",
            "width": W,
            "height": H,
            "note": "Kinect 360 factory registration is not read; depth is not registered to colour",
        }
        return RGBDFormat((H, W, 3), (H, W), 30.0, calibration, {"dump": s.dump, "device_index": s.device_index})

    # callbacks run on the event thread: copy out of libfreenect's buffer at once
    def _on_depth(self, dev, data, ts) -> None:
        raw = np.ctypeslib.as_array(ctypes.cast(data, ctypes.POINTER(ctypes.c_uint16)), (H, W))
        self._pending.put(("depth", self._to_mm[np.minimum(raw, 2047)], int(ts)))

    def _on_video(self, dev, data, ts) -> None:
        rgb = np.ctypeslib.as_array(ctypes.cast(data, ctypes.POINTER(ctypes.c_uint8)), (H, W, 3)).copy()
        self._pending.put(("color", rgb, int(ts)))

    def _start(self) -> None:
        self._pending: queue.Queue = queue.Queue(maxsize=120)
        self._clock: dict[str, tuple[int | None, int]] = {"depth": (None, 0), "color": (None, 0)}  # last tick, wraps
        self._first_tick: int | None = None
        self._running = True
        self._lib.freenect_start_depth(self._dev)
        self._lib.freenect_start_video(self._dev)
        self._thread = threading.Thread(target=self._events, name=f"{self.name}-freenect", daemon=True)
        self._thread.start()

    def _events(self) -> None:
        while self._running:
            if self._lib.freenect_process_events(self._ctx) < 0:
                self._running = False  # the end of a dump

    def _ns(self, stream: str, ts: int) -> int:
        last, wraps = self._clock[stream]
        if last is not None and ts < last - 2**31:
            wraps += 1
        self._clock[stream] = (ts, wraps)
        return (ts + wraps * 2**32) * 1_000_000_000 // TICKS_PER_S

    def _next_capture(self, timeout_s: float) -> RGBDCapture | None:
        try:
            stream, img, ts = self._pending.get(timeout=timeout_s)
        except queue.Empty:
            if not self._thread.is_alive():
                self.finished = True
            return None
        t_ns = self._ns(stream, ts)
        if self._first_tick is None:
            self._first_tick = t_ns
        number = int(round((t_ns - self._first_tick) * 30 / 1e9))
        if stream == "depth":
            return RGBDCapture(number, None, img, None, t_ns)
        return RGBDCapture(number, img, None, t_ns, None)

    def _stop(self) -> None:
        self._running = False
        self._thread.join(timeout=2.0)
        self._lib.freenect_stop_depth(self._dev)
        self._lib.freenect_stop_video(self._dev)

    def _close(self) -> None:
        self._lib.freenect_close_device(self._dev)
        self._lib.freenect_shutdown(self._ctx)
