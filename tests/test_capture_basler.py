"""Basler backend against pylon's camera emulation (pypylon bundles it; PYLON_CAMEMU=N)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mestudio.capture.errors import SDKUnavailableError
from mestudio.capture.registry import create_device
from mestudio.config import schema as S
from mestudio.config.loader import load_session_config

ROOT = Path(__file__).resolve().parent.parent


def _spec(**kw):
    base = dict(name="basler", kind="basler-array", count=2, width=320, height=240, fps=60)
    return S.BaslerArray(**{**base, **kw})


def _read(dev, n: int) -> dict:
    got = {s.stream_id: [] for s in dev.streams}
    t0 = time.monotonic()
    while min(map(len, got.values())) < n and time.monotonic() - t0 < 10:
        for f in dev.read(0.5):
            got[f.stream_id].append(f)
    return got


def test_emulated_cameras_show_the_face_views(pylon_emulation, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    dev = create_device(_spec(emulated_images="face", emulate=True))
    with dev:
        got = _read(dev, 3)
    from mestudio.capture.basler_images import face_view_folders

    folders = face_view_folders(2, 320, 240)
    for i, folder in enumerate(folders):
        images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(folder.glob("*.bmp"))]
        frame = got[f"basler-{i}"][-1].data
        assert any(np.array_equal(frame, im) for im in images), f"camera {i} does not show its face view"
    assert not np.array_equal(got["basler-0"][-1].data, got["basler-1"][-1].data)


def test_settings_from_the_config_reach_the_cameras(pylon_emulation):
    dev = create_device(_spec(exposure_us=2500, gain_db=3.0, fps=25))
    dev.open()
    try:
        for cam in dev._array:
            assert cam.ExposureTimeAbs.Value == pytest.approx(2500)
            assert cam.AcquisitionFrameRateAbs.Value == pytest.approx(25)
            assert cam.Width.Value == 320 and cam.Height.Value == 240 and cam.PixelFormat.Value == "Mono8"
        assert dev.streams[0].settings["emulated"] is True
        dev.start()
        got = _read(dev, 12)
    finally:
        dev.close()
    f = got["basler-0"]
    rate = (len(f) - 1) / ((f[-1].host_time_ns - f[0].host_time_ns) / 1e9)
    assert 15 < rate < 35  # 25 fps, as configured
    assert [x.seq for x in f] == list(range(f[0].seq, f[0].seq + len(f)))
    assert all(x.device_time_ns is None for x in f)  # the emulator's TimeStamp is always 0


def test_software_trigger_paces_the_cameras(pylon_emulation):
    dev = create_device(_spec(trigger="software", fps=20))
    with dev:
        t0 = time.monotonic()
        got = _read(dev, 10)
        dt = time.monotonic() - t0
        assert dev._array[0].TriggerMode.Value == "On"
    assert all(len(frames) >= 10 for frames in got.values())
    # 10 triggers at 20 Hz take at least 0.45 s, the emulator's free run far less; the upper bound
    # only says nothing hung (a loaded machine can only make it slower)
    assert 0.35 < dt < 15.0


@pytest.mark.slow
def test_a_slow_reader_loses_frames_and_they_are_counted(pylon_emulation):
    dev = create_device(_spec(count=1, grab_strategy="latest-only", fps=100))
    with dev:
        seqs = []
        for _ in range(8):
            seqs += [f.seq for f in dev.read(0.5)]
            time.sleep(0.1)  # ~10 frames pass between reads; latest-only keeps one
        dropped = dev.dropped
    gaps = sum(b - a - 1 for a, b in zip(seqs, seqs[1:]))
    assert gaps > 20 and dropped == gaps


def test_emulated_basler_config_is_the_rig_format():
    cfg = load_session_config(ROOT / "config" / "emulated-basler.toml")
    (d,) = cfg.devices
    assert (d.kind, d.count, d.width, d.height, d.fps, d.emulate, d.emulated_images) == (
        "basler-array",
        6,
        1600,
        1200,
        60,
        True,
        "face",
    )
    assert S.stream_ids(d) == [f"basler-{i}" for i in range(6)]


def test_missing_pypylon_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypylon", None)
    with pytest.raises(SDKUnavailableError, match="pip install pypylon") as err:
        create_device(_spec()).open()
    assert isinstance(err.value, ImportError)
