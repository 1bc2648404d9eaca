"""Fixtures for the capture tests: a JACK dummy server with an injected signal, recordings, specs.

Import the fixtures you use into a test module (``from tests.capture_fixtures import jack_audio``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import types
import uuid
from pathlib import Path

import numpy as np
import pytest

RATE = 48000


def injected_signal(seconds: float = 4.0) -> np.ndarray:
    """float32 at 48 kHz: silence, a 1 kHz beep at 1.0 s, a ramp at 2.0 s, each value exact in int16."""
    x = np.zeros(int(seconds * RATE), np.float32)
    t = np.arange(4800) / RATE
    # values k/32768 survive float32 -> int16 exactly: the test can demand bit-exact samples
    beep = np.round(np.sin(2 * np.pi * 1000 * t) * 12000) / 32768
    x[RATE : RATE + 4800] = beep
    x[2 * RATE : 2 * RATE + 1000] = np.arange(1, 1001) / 32768
    return x


@pytest.fixture(scope="module")
def jack_audio(tmp_path_factory):
    """jackd (dummy driver, 48 kHz) + ALSA config making PortAudio's default input replay a file.

    Yields the injected signal as int16 (what a bit-exact capture must return).  HOME points at
    the folder holding the .asoundrc while the fixture lives (one test module); jackd is stopped
    and HOME restored at the end.
    """
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2 libasound2-plugins)")
    pytest.importorskip("pyaudio")
    d = tmp_path_factory.mktemp("jack")
    sig = injected_signal()
    sig.tofile(d / "signal.raw")
    (d / ".asoundrc").write_text(
        "pcm.jackin { type jack capture_ports { 0 system:capture_1 } playback_ports { 0 system:playback_1 } }\n"
        f'pcm.inj {{ type file slave.pcm "jackin" file "/dev/null" infile "{d}/signal.raw" format "raw" }}\n'
        'pcm.!default { type plug slave { pcm "inj" format FLOAT_LE rate 48000 channels 1 } }\n'
    )
    server = f"mestudio-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1", "JACK_DEFAULT_SERVER": server}
    log = open(d / "jackd.log", "w")
    proc = subprocess.Popen(
        ["jackd", "--no-realtime", "-n", server, "-d", "dummy", "-r", str(RATE), "-p", "1024", "-C", "2", "-P", "2"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    old = {k: os.environ.get(k) for k in ("HOME", "JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")}
    try:
        # jack_wait -w blocks until the server answers (or its own timeout)
        ok = subprocess.run(["jack_wait", "-w", "-t", "10"], env=env, capture_output=True, timeout=15)
        if ok.returncode != 0 or proc.poll() is not None:
            pytest.fail(f"jackd did not start: {(d / 'jackd.log').read_text()[-500:]}")
        os.environ.update({"HOME": str(d), "JACK_DEFAULT_SERVER": server, "JACK_NO_AUDIO_RESERVATION": "1"})
        yield types.SimpleNamespace(signal_i16=np.round(sig * 32768).astype(np.int16), rate=RATE, folder=d)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="session")
def realsense_face_recording(tmp_path_factory) -> Path:
    """A 20-frame 320x240 RealSense recording of the face rig, written by librealsense."""
    pytest.importorskip("pyrealsense2")
    from mestudio.capture.realsense_recording import write_face_recording

    return write_face_recording(tmp_path_factory.mktemp("rs") / "face.db3", 20, 320, 240, 30)


@pytest.fixture(scope="session")
def face_video(tmp_path_factory) -> Path:
    """A 30-frame 320x240 H.264 file of the face rig at 30 fps, written with PyAV."""
    import av

    from mestudio.capture.face.render import FaceView, source_rgb
    from mestudio.capture.face.script import default_script

    path = tmp_path_factory.mktemp("video") / "face.mp4"
    view, script = FaceView(320, 240), default_script(5, 0)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for k in range(30):
            img = view.render(script, k / 30, k, source_rgb())
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="session")
def librealsense_first():
    """Initialise librealsense before pylon grabs: once pylon's emulator has run in a process,
    every librealsense context created afterwards takes ~0.9 s (measured; one live context made
    earlier avoids it).  Devices run one per process, so only tests sharing a process see this."""
    try:
        import pyrealsense2 as rs
    except ImportError:
        yield None
        return
    yield rs.context()


@pytest.fixture
def pylon_emulation(monkeypatch, librealsense_first):
    """pylon's camera emulation with 6 cameras (pylon reads PYLON_CAMEMU when it enumerates)."""
    pytest.importorskip("pypylon")
    monkeypatch.setenv("PYLON_CAMEMU", "6")


_STANDIN_VIEWS: dict = {}


def _pyk4a_standin():
    """A stand-in for pyk4a's documented API (PyK4A, PyK4APlayback, Config, enums, exceptions),
    serving face-rig captures, so that capture/kinect.py runs where libk4a cannot be installed."""
    import enum

    from mestudio.capture.face.render import FaceView, source_rgb
    from mestudio.capture.face.script import default_script

    m = types.ModuleType("pyk4a")
    m.ColorResolution = enum.IntEnum(
        "ColorResolution", "OFF RES_720P RES_1080P RES_1440P RES_1536P RES_2160P RES_3072P", start=0
    )
    m.DepthMode = enum.IntEnum(
        "DepthMode", "OFF NFOV_2X2BINNED NFOV_UNBINNED WFOV_2X2BINNED WFOV_UNBINNED PASSIVE_IR", start=0
    )
    m.FPS = enum.IntEnum("FPS", "FPS_5 FPS_15 FPS_30", start=0)
    m.ImageFormat = enum.IntEnum(
        "ImageFormat", "COLOR_MJPG COLOR_NV12 COLOR_YUY2 COLOR_BGRA32 DEPTH16 IR16 CUSTOM", start=0
    )

    class K4AException(Exception):
        pass

    class K4ATimeoutException(K4AException):
        pass

    m.K4AException, m.K4ATimeoutException = K4AException, K4ATimeoutException
    sizes = {m.ColorResolution.RES_720P: (1280, 720)}
    depth_sizes = {m.DepthMode.NFOV_UNBINNED: (640, 576)}
    rates = {m.FPS.FPS_5: 5, m.FPS.FPS_15: 15, m.FPS.FPS_30: 30}
    script = default_script(10, 0)

    def _views(size):  # built once per test session: a 1280x720 view takes ~1 s to prepare
        if size not in _STANDIN_VIEWS:
            _STANDIN_VIEWS[size] = FaceView(*size)
        return _STANDIN_VIEWS[size]

    class Config:
        def __init__(
            self,
            color_resolution=m.ColorResolution.RES_720P,
            depth_mode=m.DepthMode.NFOV_UNBINNED,
            camera_fps=m.FPS.FPS_30,
            color_format=m.ImageFormat.COLOR_BGRA32,
            synchronized_images_only=True,
        ):
            self.color_resolution, self.depth_mode, self.camera_fps = color_resolution, depth_mode, camera_fps
            self.color_format, self.synchronized_images_only = color_format, synchronized_images_only

    class Capture:
        def __init__(self, k: int, fps: int, cfg: Config):
            cw, ch = sizes[cfg.color_resolution]
            dw, dh = depth_sizes[cfg.depth_mode]
            cv_, dv = _views((cw, ch)), _views((dw, dh))
            rgb = cv_.render(script, k / fps, k, source_rgb())
            self.color = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)])  # BGRA
            self.depth = dv.render_depth(dv.sampling_map(script, k / fps), k)
            self.depth_timestamp_usec = 1_000_000 + k * 1_000_000 // fps
            self.color_timestamp_usec = self.depth_timestamp_usec + 100  # colour exposes 0.1 ms later

    calibration = '{"CalibrationInformation": {"Cameras": [{"Location": "CALIBRATION_CameraLocationD0"}]}}'

    class PyK4A:
        devices = 1

        def __init__(self, config=None, device_id=0, thread_safe=True):
            self._config, self._device_id, self._handle, self._k, self._t0 = config or Config(), device_id, None, 0, 0.0

        @property
        def opened(self):
            return self._handle is not None

        def open(self):
            if self.opened:
                raise K4AException("Device already opened")
            if self._device_id >= self.devices:
                raise K4AException(f"Cannot open device {self._device_id}")
            self._handle = object()

        def close(self):
            if not self.opened:
                raise K4AException("Device is not opened")
            self._handle = None

        def start(self):
            if not self.opened:
                self.open()
            self._t0 = time.monotonic()

        def stop(self):  # pyk4a's stop() also closes the device
            self._handle = None

        @property
        def calibration_raw(self):
            if not self.opened:
                raise K4AException("Device is not opened")
            return calibration

        def get_capture(self, timeout=-1):
            if not self.opened:
                raise K4AException("Device is not opened")
            fps = rates[self._config.camera_fps]
            due = self._t0 + self._k / fps
            wait = due - time.monotonic()
            if timeout >= 0 and wait > timeout / 1000:
                time.sleep(timeout / 1000)
                raise K4ATimeoutException()
            time.sleep(max(0.0, wait))
            cap = Capture(self._k, fps, self._config)
            self._k += 1
            return cap

    class PyK4APlayback:
        def __init__(self, path):
            self.path, self._k, self._open = path, 0, False

        def open(self):
            self._open = True

        def close(self):
            self._open = False

        @property
        def calibration_raw(self):
            return calibration

        def get_next_capture(self):
            if self._k >= 5:
                raise EOFError
            self._k += 1
            return Capture(self._k - 1, 30, Config())

    m.Config, m.PyK4A, m.PyK4APlayback = Config, PyK4A, PyK4APlayback
    return m


@pytest.fixture
def pyk4a_standin(monkeypatch):
    mod = _pyk4a_standin()
    monkeypatch.setitem(__import__("sys").modules, "pyk4a", mod)
    return mod
