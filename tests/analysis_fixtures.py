"""Shared helpers for the analyzer tests: synthetic crops, face frames, the real clips."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import SHARED

VIDEOS = SHARED / "data" / "videos"
LABELS = SHARED / "data" / "labels"


def rotation_about(axis: str, deg: float) -> np.ndarray:
    """The 3x3 rotation by ``deg`` degrees about the x, y or z axis (a nod, a turn, a roll)."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = {"x": (1, 2), "y": (0, 2), "z": (0, 1)}[axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def needs_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared data absent)")
    return path


@lru_cache(maxsize=1)
def _texture(size: int = 150) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)
    return cv2.normalize(t, None, 30, 225, cv2.NORM_MINMAX)


def moving_crops(
    events: list[tuple[float, float, float]], seconds: float, fps: float = 60.0, size: int = 150, seed: int = 0
) -> np.ndarray:
    """Crops of a still texture with sensor noise; each (onset_s, offset_s, pixels) event pushes a
    patch (one "AU") up by ``pixels`` at its apex with a raised-cosine rise and fall."""
    rng = np.random.default_rng(seed)
    tex = _texture(size)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    blob = np.exp(-(((x - 0.3 * size) / 10) ** 2 + ((y - 0.35 * size) / 8) ** 2) / 2)
    out = []
    for i in range(int(seconds * fps)):
        t = i / fps
        level = 0.0
        for on, off, px in events:
            if on < t < off:
                level += px * (0.5 - 0.5 * math.cos(2 * math.pi * (t - on) / (off - on)))
        img = cv2.remap(tex, x, y + level * blob, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        img = img + rng.normal(0, 2.0, img.shape)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


@lru_cache(maxsize=4)
def face_frames(
    events: tuple = (), seconds: float = 4.0, fps: float = 60.0, width: int = 640, height: int = 480
) -> np.ndarray:
    """Frames of the synthetic face rig (a real photograph, scripted AUs).

    ``events``: tuples (kind, aus, onset_s, apex_s, offset_s, intensity)."""
    from mestudio.capture.face.render import FaceView, source_gray
    from mestudio.capture.face.script import FaceEvent, FaceScript

    script = FaceScript([FaceEvent(k, list(a), on, ap, off, inten) for k, a, on, ap, off, inten in events], seconds)
    view = FaceView(width, height, 0.0, seed=1)
    return np.stack([view.render(script, i / fps, i, source_gray()) for i in range(int(seconds * fps))])


def read_video_gray(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY))
    cap.release()
    return frames, fps
