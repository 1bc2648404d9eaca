"""Preprocessing: TIM, crops, alignment to the template, Eulerian magnification."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.analysis.preprocess import (
    align_clip,
    alignment_matrix,
    center_crop,
    magnify,
    random_crop,
    tim_interpolate,
)
from mestudio.analysis.preprocess.align import template
from tests.conftest import SHARED

VIDEOS = SHARED / "data" / "videos"


def moving_clip(n=13, size=40, seed=0):
    """A bright square gliding right: a smooth motion TIM should follow."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        x = 5 + int(round(i * 24 / max(1, n - 1)))
        out[i, 10:20, x : x + 8] = 200
    return out + rng.integers(0, 5, out.shape).astype(np.uint8)


def test_tim_reproduces_the_input_at_its_own_length():
    clip = moving_clip()
    assert np.array_equal(tim_interpolate(clip, len(clip)), clip)


def test_tim_to_ten_frames_keeps_ends_and_moves_monotonically():
    clip = moving_clip(23)
    out = tim_interpolate(clip, 10)
    assert out.shape == (10, 40, 40) and out.dtype == np.uint8
    assert np.abs(out[0].astype(int) - clip[0]).max() <= 1
    assert np.abs(out[-1].astype(int) - clip[-1]).max() <= 1
    # the intensity centroid of the square moves right frame after frame
    cols = np.arange(40)
    cx = [f[10:20].astype(float).sum(0) @ cols / f[10:20].astype(float).sum() for f in out]
    assert all(b > a for a, b in zip(cx, cx[1:]))


def test_tim_upsamples_short_clips_and_handles_edge_cases():
    clip = moving_clip(4)
    assert tim_interpolate(clip, 10).shape[0] == 10
    assert tim_interpolate(clip[:1], 10).shape[0] == 10
    still = np.full((6, 8, 8), 7, np.uint8)
    assert np.array_equal(tim_interpolate(still, 10), np.full((10, 8, 8), 7, np.uint8))
    with pytest.raises(ValueError):
        tim_interpolate(clip[:0], 10)


def test_random_crop_is_seeded_and_centre_crop_centred():
    clip = np.arange(10 * 150 * 150, dtype=np.int64).reshape(10, 150, 150)
    a = random_crop(clip, 112, np.random.default_rng(3))
    b = random_crop(clip, 112, np.random.default_rng(3))
    assert a.shape == (10, 112, 112) and np.array_equal(a, b)
    assert center_crop(clip, 112)[0, 0, 0] == clip[0, 19, 19]
    with pytest.raises(ValueError, match="smaller than"):
        center_crop(clip[:, :100, :100], 112)


def test_alignment_maps_landmarks_onto_the_template():
    tpl = template(150)
    # a face 1.5x larger, rotated by 10 degrees and shifted
    a = np.deg2rad(10)
    rot = 1.5 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = tpl @ rot.T + [40, 25]
    m = alignment_matrix(pts, 150)
    back = pts @ m[:, :2].T + m[:, 2]
    assert np.abs(back - tpl).max() < 0.5
    m2 = alignment_matrix(pts[:2], 150)  # eyes only
    assert np.abs(pts[:2] @ m2[:, :2].T + m2[:, 2] - tpl[:2]).max() < 1e-6
    clip = np.random.default_rng(0).integers(0, 255, (3, 300, 300)).astype(np.uint8)
    assert align_clip(clip, pts).shape == (3, 150, 150)
    with pytest.raises(ValueError, match="landmarks"):
        alignment_matrix(np.zeros((7, 2)))


def test_68_point_landmarks_accepted():
    lm = np.zeros((68, 2))
    lm[36:42] = [50, 60]
    lm[42:48] = [100, 60]
    lm[30] = [75, 90]
    lm[48], lm[54] = [55, 115], [95, 115]
    m = alignment_matrix(lm, 150)
    eye = np.array([50, 60]) @ m[:, :2].T + m[:, 2]
    assert abs(eye[1] - template(150)[0, 1]) < 6


def test_magnification_amplifies_subtle_motion():
    n, size = 32, 64
    t = np.arange(n)
    clip = np.zeros((n, size, size), np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):  # a blurred edge shifting by a fraction of a pixel at 5 Hz (fps 60)
        shift = 0.5 * np.sin(2 * np.pi * 5 * t[i] / 60)
        clip[i] = 100 + 60 * np.tanh((xx - 32 - shift) / 3.0)
    clip8 = np.clip(clip, 0, 255).astype(np.uint8)
    out = magnify(clip8, fps=60, alpha=8, low_hz=3, high_hz=7, levels=3)
    assert out.shape == clip8.shape and out.dtype == np.uint8
    amp_in = clip8[:, 32, 28:36].astype(float).std(axis=0).mean()
    amp_out = out[:, 32, 28:36].astype(float).std(axis=0).mean()
    assert amp_out > 2 * amp_in


def test_mediapipe_landmarks_on_a_real_face():
    video = VIDEOS / "pyfeat_single_face.mp4"
    if not video.is_file():
        pytest.skip(f"{video} not present")
    pytest.importorskip("mediapipe")
    import cv2

    from mestudio.analysis.preprocess import mediapipe_landmarks

    cap = cv2.VideoCapture(str(video))
    ok, frame = cap.read()
    cap.release()
    assert ok
    pts = mediapipe_landmarks(frame)
    assert pts is not None and pts.shape == (5, 2)
    assert pts[0, 0] < pts[1, 0] and pts[2, 1] > pts[0, 1] and pts[3, 1] > pts[2, 1]  # eyes, nose, mouth
    crop = align_clip(np.stack([frame]), pts)
    assert crop.shape == (1, 150, 150, 3)
