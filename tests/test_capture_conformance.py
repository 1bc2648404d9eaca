"""Every backend that runs on this machine passes the same conformance checks (capture/conformance.py).

MESTUDIO_HARDWARE=1 MESTUDIO_HARDWARE_CONFIG=rig.toml reruns them on the devices of a real rig.
"""

from __future__ import annotations

import os

import pytest

from mestudio.capture.conformance import check_lifecycle
from mestudio.capture.errors import DeviceNotFoundError, SDKUnavailableError
from mestudio.capture.genicam import simulator_cti
from mestudio.capture.registry import create_device
from mestudio.config import schema as S
from mestudio.config.loader import load_session_config


def _spec(model, **kw):
    return model(**kw)


SYNTHETIC = {
    "pattern-camera": lambda: _spec(
        S.SyntheticCamera, name="cam", kind="synthetic-camera", width=64, height=48, fps=200
    ),
    "pattern-rgbd": lambda: _spec(S.SyntheticRGBD, name="rgbd", kind="synthetic-rgbd", width=64, height=48, fps=200),
    "pattern-array": lambda: _spec(
        S.SyntheticArray, name="arr", kind="synthetic-array", count=2, width=64, height=48, fps=200
    ),
    "synthetic-audio": lambda: _spec(S.SyntheticAudio, name="mic", kind="synthetic-audio", block=480),
    "face-camera": lambda: _spec(
        S.SyntheticCamera, name="face", kind="synthetic-camera", source="face", width=160, height=120, fps=120
    ),
    "face-rgbd": lambda: _spec(
        S.SyntheticRGBD, name="kin", kind="synthetic-rgbd", source="face", width=160, height=120, fps=120
    ),
    "face-array": lambda: _spec(
        S.SyntheticArray, name="rig", kind="synthetic-array", source="face", count=3, width=160, height=120, fps=120
    ),
}


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_backend_conforms(name):
    spec = SYNTHETIC[name]()
    check_lifecycle(lambda: create_device(spec))


@pytest.mark.parametrize("trigger", ["free-run", "software"])
def test_basler_emulator_conforms(pylon_emulation, trigger):
    spec = S.BaslerArray(name="basler", kind="basler-array", count=2, width=320, height=240, fps=60, trigger=trigger)
    runs = check_lifecycle(lambda: create_device(spec))
    assert all(len(r.frames) == 2 for r in runs)


def test_genicam_simulator_conforms():
    spec = S.GenICamCamera(name="frontal", kind="genicam", cti=[str(simulator_cti())], width=320, height=240, fps=60)
    check_lifecycle(lambda: create_device(spec))


def test_opencv_video_file_conforms(face_video):
    spec = S.OpenCVCamera(name="video", kind="opencv", source=str(face_video), loop=True)
    check_lifecycle(lambda: create_device(spec))


def test_realsense_playback_conforms(realsense_face_recording):
    spec = S.RealSenseCamera(name="rs", kind="realsense", file=str(realsense_face_recording), realtime=False)
    check_lifecycle(lambda: create_device(spec))


def test_audio_through_portaudio_conforms(jack_audio):
    spec = S.AudioInput(name="mic", kind="audio", block=1024)
    check_lifecycle(lambda: create_device(spec))


# -- a clear error for a missing device ------------------------------------------------------
MISSING = {
    "basler serial": (
        lambda: S.BaslerArray(name="b", kind="basler-array", count=1, serials=["nope-123"], width=320, height=240),
        "nope-123",
    ),
    "basler count": (
        lambda: S.BaslerArray(name="b", kind="basler-array", count=32, width=320, height=240),
        "PYLON_CAMEMU",
    ),
    "genicam serial": (
        lambda: S.GenICamCamera(name="g", kind="genicam", cti=[str(simulator_cti())], serial="x9"),
        "x9",
    ),
    "opencv file": (lambda: S.OpenCVCamera(name="v", kind="opencv", source="/nonexistent/clip.mp4"), "does not exist"),
    "opencv camera": (lambda: S.OpenCVCamera(name="v", kind="opencv", source="7"), "camera 7"),
    "realsense file": (
        lambda: S.RealSenseCamera(name="r", kind="realsense", file="/nonexistent/x.db3"),
        "does not exist",
    ),
    "realsense camera": (lambda: S.RealSenseCamera(name="r", kind="realsense"), "no RealSense camera"),
}


@pytest.mark.parametrize("case", sorted(MISSING))
def test_missing_device_is_a_clear_lookup_error(case, pylon_emulation):
    make_spec, words = MISSING[case]
    dev = create_device(make_spec())
    with pytest.raises(DeviceNotFoundError) as err:
        dev.open()
    assert isinstance(err.value, LookupError)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert dev.state == "closed"


def test_missing_audio_input_names_the_inputs(jack_audio):
    dev = create_device(S.AudioInput(name="mic", kind="audio", device="no-such-microphone"))
    with pytest.raises(DeviceNotFoundError, match="no-such-microphone.*inputs:"):
        dev.open()


def test_genicam_without_producer_names_what_to_install():
    dev = create_device(S.GenICamCamera(name="g", kind="genicam", cti=["/opt/none/Vimba.cti"]))
    with pytest.raises(SDKUnavailableError, match="Vimba X"):
        dev.open()


# -- the same checks on real devices ----------------------------------------------------------
def _hardware_devices():
    path = os.environ.get("MESTUDIO_HARDWARE_CONFIG")
    if not path:
        return []
    return [pytest.param(d, id=d.name) for d in load_session_config(path).enabled_devices]


@pytest.mark.hardware
@pytest.mark.skipif(os.environ.get("MESTUDIO_HARDWARE") != "1", reason="MESTUDIO_HARDWARE=1 runs it on real devices")
@pytest.mark.parametrize("spec", _hardware_devices() or [pytest.param(None, id="no-config")])
def test_hardware_device_conforms(spec):
    if spec is None:
        pytest.skip("set MESTUDIO_HARDWARE_CONFIG to a session config listing the attached devices")
    check_lifecycle(lambda: create_device(spec), n_frames=10)
