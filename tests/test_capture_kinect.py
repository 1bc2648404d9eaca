"""Kinect via pyk4a: a clear error here (no k4a SDK), and the backend's code run against a stand-in of
pyk4a's documented API serving face-rig captures (the same conformance checks as every backend)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from mestudio.capture.conformance import check_lifecycle, collect
from mestudio.capture.errors import DeviceNotFoundError, SDKUnavailableError
from mestudio.capture.registry import create_device
from mestudio.config import schema as S


def _spec(**kw):
    return S.KinectCamera(**{"name": "kinect", "kind": "kinect", **kw})


def test_without_the_k4a_sdk_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyk4a", None)  # as here: pyk4a cannot be built without libk4a
    dev = create_device(_spec())
    with pytest.raises(SDKUnavailableError) as err:
        dev.open()
    msg = str(err.value)
    assert isinstance(err.value, ImportError) and "\n" not in msg
    assert "Azure Kinect Sensor SDK" in msg and "pip install pyk4a" in msg and "docs/capture.md" in msg
    assert dev.state == "closed"


def test_kinect_backend_conforms(pyk4a_standin):
    check_lifecycle(lambda: create_device(_spec()), n_frames=3)


def test_colour_depth_timestamps_and_calibration(pyk4a_standin, tmp_path):
    dev = create_device(_spec())
    dev.session_dir = tmp_path
    with dev:
        run = collect(dev, 3)
        color_info, depth_info = dev.streams
    c, d = run.frames["kinect-color"][1], run.frames["kinect-depth"][1]
    assert c.data.shape == (720, 1280, 3) == color_info.shape and c.pixel_format == "rgb8"
    assert d.data.shape == (576, 640) == depth_info.shape and d.data.dtype == np.uint16
    assert c.device_time_ns == d.device_time_ns + 100_000  # usec -> ns, colour 0.1 ms after depth
    assert c.seq == d.seq == round(d.device_time_ns / 1e9 * 30)
    saved = json.loads((tmp_path / "calibration" / "kinect.json").read_text())
    assert saved == color_info.settings["calibration"] and "CalibrationInformation" in saved


def test_colour_channels_are_rgb(pyk4a_standin):
    dev = create_device(_spec())
    with dev:
        frame = collect(dev, 1).frames["kinect-color"][0]
    cap = pyk4a_standin.PyK4APlayback("x")  # same first picture, still in BGRA
    bgra = cap.get_next_capture().color
    np.testing.assert_array_equal(frame.data[..., 0], bgra[..., 2])
    np.testing.assert_array_equal(frame.data[..., 2], bgra[..., 0])


def test_mkv_playback_ends_cleanly(pyk4a_standin, tmp_path):
    mkv = tmp_path / "take.mkv"
    mkv.write_bytes(b"")
    dev = create_device(_spec(playback=str(mkv)))
    with dev:
        seqs = []
        while not dev.finished:
            seqs += [f.seq for f in dev.read(0.2) if f.stream_id == "kinect-color"]
    assert seqs == [1, 2, 3, 4, 5]


def test_missing_kinect_is_a_lookup_error(pyk4a_standin):
    with pytest.raises(DeviceNotFoundError, match="no Azure Kinect at index 3"):
        create_device(_spec(device_index=3)).open()
    with pytest.raises(DeviceNotFoundError, match="does not exist"):
        create_device(_spec(playback="/nonexistent/take.mkv")).open()
