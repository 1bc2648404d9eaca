"""Frame-to-screen conversions of the monitor (plain numpy)."""

from __future__ import annotations

import numpy as np

from mestudio.monitor.display import (
    DEPTH_LUT,
    audio_level_dbfs,
    decimation,
    depth_colors,
    depth_range,
    media_of,
    to_display,
)


def test_decimation_brings_the_long_side_under_the_limit():
    assert decimation((1200, 1600), 400) == 4
    assert decimation((480, 640), 400) == 2
    assert decimation((100, 120), 400) == 1
    for shape in [(1200, 1600), (481, 641), (2000, 10)]:
        step = decimation(shape, 400)
        assert max(np.zeros(shape, np.uint8)[::step, ::step].shape) <= 400


def test_mono_and_colour_frames_are_strided_views_of_the_same_pixels():
    mono = np.arange(480 * 640, dtype=np.uint32).astype(np.uint8).reshape(480, 640)
    out = to_display(mono, "mono8", 2)
    assert out.shape == (240, 320) and out.dtype == np.uint8
    assert np.array_equal(out, mono[::2, ::2])
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[..., 0] = 200
    assert to_display(rgb, "rgb8", 1)[0, 0].tolist() == [200, 0, 0]
    assert to_display(rgb, "bgr8", 1)[0, 0].tolist() == [0, 0, 200]


def test_sixteen_bit_camera_keeps_its_top_bits():
    img = np.full((4, 4), 0xAB00, np.uint16)
    assert to_display(img, "mono16", 1)[0, 0] == 0xAB


def test_depth_is_a_colour_map_with_no_measurement_black():
    depth = np.zeros((20, 20), np.uint16)
    depth[:, :10] = 600  # near
    depth[:, 10:] = 3000  # far
    depth[0, 0] = 0
    rgb = to_display(depth, "depth16", 1, (500, 3500))
    assert rgb.shape == (20, 20, 3)
    assert rgb[0, 0].tolist() == [0, 0, 0]
    near, far = rgb[5, 2], rgb[5, 15]
    assert near[0] > near[2] and far[2] > far[0]  # near is warm, far is cool
    assert not np.array_equal(near, far)


def test_depth_range_ignores_missing_depth_and_is_robust():
    d = np.full((100, 100), 1000, np.uint16)
    d[:50] = 2000
    d[0, 0] = 60000  # one wild value
    d[1] = 0
    lo, hi = depth_range(d)
    assert 990 <= lo <= 1010 and 1990 <= hi <= 2010
    assert depth_colors(d, lo, hi)[1, 5].tolist() == [0, 0, 0]
    assert DEPTH_LUT.shape == (256, 3)


def test_audio_level():
    t = np.arange(48000) / 48000
    full = (np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    assert abs(audio_level_dbfs(full) - (-3.01)) < 0.1
    assert abs(audio_level_dbfs((full // 10).astype(np.int16)) - (-23.0)) < 0.2
    assert audio_level_dbfs(np.zeros(800, np.int16)) == -120.0


def test_media_of_header():
    assert media_of("mono8", (480, 640)) == "video"
    assert media_of("rgb8", (480, 640, 3)) == "video"
    assert media_of("depth16", (480, 640)) == "depth"
    assert media_of("s16le", (800, 1)) == "audio"
