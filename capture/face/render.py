"""Renders the scripted face: one warp of the photograph per frame.

Per frame the cost is small because everything that depends on position is precomputed on a
grid 4x coarser than the output (view geometry, head mask, one displacement field per AU):
a frame sums a few of those small fields, upsamples the result to a full-resolution sampling map
(one ``cv2.resize``), warps the photograph with it (one ``cv2.remap``), then applies lighting
drift and sensor noise (two ``cv2.addWeighted``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from mestudio.capture.face import anatomy
from mestudio.capture.face.script import FaceScript

GRID = 4  # the precomputed fields are this many times coarser than the output
MM_PER_SOURCE_PX = 1.47  # interocular distance 43 px in the photo ~ 63 mm
RENDER_VERSION = 4  # bump when frames change: cached emulator images are keyed by it
NOISE_ROWS = 61  # prime: consecutive ticks start at different rows for 61 frames


@lru_cache(maxsize=1)
def source_rgb() -> np.ndarray:
    from skimage import data  # bundled with scikit-image: no download

    return np.ascontiguousarray(data.astronaut())


@lru_cache(maxsize=1)
def source_gray() -> np.ndarray:
    return cv2.cvtColor(source_rgb(), cv2.COLOR_RGB2GRAY)


@lru_cache(maxsize=1)
def source_depth_mm() -> np.ndarray:
    """A plausible depth map (uint16 mm) of the photograph: face ~0.8 m, torso, wall at 1.8 m."""
    h, w = source_gray().shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    relief = anatomy.face_relief(x, y)
    depth = np.full((h, w), 1800.0, np.float32)
    cx, cy = anatomy.FACE_CENTRE
    torso = (y > cy + 62) & (np.abs(x - cx) < 40 + (y - cy - 62) * 1.6)
    depth[torso] = 950.0 + 0.002 * (x[torso] - cx) ** 2
    head = relief > 0
    depth[head] = 880.0 - relief[head] * MM_PER_SOURCE_PX
    return depth.astype(np.uint16)


class FaceView:
    """One camera looking at the face: output size, yaw (degrees, + = camera to the person's left)."""

    def __init__(self, width: int, height: int, yaw_deg: float = 0.0, seed: int = 0) -> None:
        self.width, self.height = width, height
        self.scale = width / anatomy.SOURCE_WIDTH_SHOWN  # output px per source px
        gh, gw = -(-height // GRID), -(-width // GRID)
        # full-resolution output coordinates of the coarse grid's samples (cv2.resize alignment)
        oy, ox = np.mgrid[0:gh, 0:gw].astype(np.float32)
        ox = (ox + 0.5) * (width / gw) - 0.5
        oy = (oy + 0.5) * (height / gh) - 0.5
        cx, cy = anatomy.FACE_CENTRE
        yaw = math.radians(yaw_deg)
        sx = cx + (ox - width / 2) / self.scale / math.cos(yaw)
        sy = cy + (oy - height / 2) / self.scale
        # parallax: what sticks out (the nose) shifts against what lies behind, as in a real view
        sx = sx + anatomy.face_relief(sx, sy) * math.tan(yaw)
        self.base = np.stack([sx, sy], axis=-1).astype(np.float32)  # (gh, gw, 2)
        self.head_w = anatomy.head_weight(sx, sy)[..., None]
        self.rel = self.base - np.array([cx, cy], np.float32)
        self.au_fields = {}
        for au, blobs in anatomy.AU_BLOBS.items():
            dx, dy = anatomy.displacement(blobs, sx, sy)
            self.au_fields[au] = np.stack([dx, dy], axis=-1).astype(np.float32)
        self._seed = seed
        self._seed_phase = np.random.default_rng(seed).uniform(0, 2 * math.pi, 6)
        self._noise: dict[int, np.ndarray] = {}
        gx = np.linspace(-40, 40, width, dtype=np.float32)
        self._gradient: dict[int, np.ndarray | None] = {c: None for c in (1, 3)}
        self._gradient_row = (gx + 128).clip(0, 255).astype(np.uint8)

    def warm(self, source: np.ndarray, depth: bool = False) -> None:
        """Build the lazy parts (noise bank, gradient, photo) now, so the first frame is on time."""
        ch = 1 if source.ndim == 2 else source.shape[2]
        self._noise_frame(0, ch)
        self._gradient_img(ch)
        if depth:
            self._noise_frame(0, 1)
            source_depth_mm()

    # -- geometry --------------------------------------------------------------------------
    def drift(self, t: float) -> tuple[float, float, float]:
        """Slow involuntary head motion (source px, source px, degrees): never still, never fast."""
        p = self._seed_phase
        dx = 0.5 * math.sin(2 * math.pi * t / 17 + p[0]) + 0.25 * math.sin(2 * math.pi * t / 7.3 + p[1])
        dy = 0.35 * math.sin(2 * math.pi * t / 13 + p[2]) + 0.15 * math.sin(2 * math.pi * t / 5.1 + p[3])
        roll = 0.4 * math.sin(2 * math.pi * t / 19 + p[4])
        return dx, dy, roll

    def sampling_map(self, script: FaceScript, t: float) -> np.ndarray:
        """Full-resolution (h, w, 2) float32 map: output pixel -> source pixel at script time t."""
        m = self.base.copy()
        for au, level in script.au_levels(t).items():
            if level > 0.0:
                m -= level * self.au_fields[au]  # backward map: sample where the skin came from
        hx, hy, roll = script.head_pose(t)
        dx, dy, droll = self.drift(t)
        tx, ty = hx / 2.5 + dx, hy / 2.5 + dy  # script head offsets are in 640x480 pixels
        a = math.radians(roll + droll)
        if tx or ty or a:
            c, s = math.cos(a) - 1.0, math.sin(a)
            rx, ry = self.rel[..., 0], self.rel[..., 1]
            # the head moves by (R - I) rel + t; sample from the inverse (small-motion form)
            mx = c * rx - s * ry + tx
            my = s * rx + c * ry + ty
            m[..., 0] -= self.head_w[..., 0] * mx
            m[..., 1] -= self.head_w[..., 0] * my
        return cv2.resize(m, (self.width, self.height), interpolation=cv2.INTER_LINEAR)

    # -- pixels ----------------------------------------------------------------------------
    def _noise_frame(self, tick: int, channels: int) -> np.ndarray:
        # one noise field NOISE_ROWS taller than a frame; each tick takes a window starting at another
        # row, so a pixel's noise changes from frame to frame at the cost of ~1 frame of random numbers
        field = self._noise.get(channels)
        if field is None:
            shape = (self.height + NOISE_ROWS, self.width) + ((channels,) if channels > 1 else ())
            # seeded per channel count: frames do not depend on which stream rendered first
            noise = np.random.default_rng((self._seed, channels)).standard_normal(shape, dtype=np.float32)
            field = np.clip(128 + 2.5 * noise, 0, 255).astype(np.uint8)
            self._noise[channels] = field
        start = (tick * 17) % NOISE_ROWS
        return field[start : start + self.height]

    def _gradient_img(self, channels: int) -> np.ndarray:
        g = self._gradient.get(channels)
        if g is None:
            g = np.repeat(self._gradient_row[None, :], self.height, axis=0)
            if channels > 1:
                g = np.repeat(g[..., None], channels, axis=2)
            self._gradient[channels] = g = np.ascontiguousarray(g)
        return g

    def render(
        self, script: FaceScript, t: float, tick: int, source: np.ndarray, smap: np.ndarray | None = None
    ) -> np.ndarray:
        """One frame (uint8, gray or RGB after ``source``) with lighting drift and noise."""
        if smap is None:
            smap = self.sampling_map(script, t)
        img = cv2.remap(source, smap, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        ch = 1 if img.ndim == 2 else img.shape[2]
        p = self._seed_phase
        gain = 1.0 + 0.05 * math.sin(2 * math.pi * t / 23 + p[5])
        offset = 3.0 * math.sin(2 * math.pi * t / 31 + p[0])
        img = cv2.addWeighted(img, gain, self._noise_frame(tick, ch), 1.0, offset - 128.0)
        w = 0.06 * math.sin(2 * math.pi * t / 41 + p[1])  # light slowly moving left-right
        return cv2.addWeighted(img, 1.0, self._gradient_img(ch), w, -128.0 * w)

    def render_depth(self, smap: np.ndarray, tick: int) -> np.ndarray:
        """Depth (uint16 mm) through the same map, nearest-neighbour like a depth sensor's pixels."""
        d = cv2.remap(source_depth_mm(), smap, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
        noise = self._noise_frame(tick, 1)
        return cv2.subtract(cv2.add(d, noise, dtype=cv2.CV_16U), 128, dtype=cv2.CV_16U)
