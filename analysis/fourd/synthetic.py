"""Synthetic 4D face clips with ground truth: an analytic, textured face height-field mesh (mm,
looking along +z, y up) whose vertices move as the study's eight AUs rise to an apex and fall,
under a small rigid head motion. Identities differ in head size, depth, nose, feature positions
and skin tone; every clip's emotion is Table 4's for its AUs (analysis.emotion.table).

This stands in for the face rig's ground-truth meshes (branch ``fourd``) so the 4D method can be
built and tested on any mesh sequence; it is a geometric caricature, not a face model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mestudio.analysis.fourd.mesh import Mesh
from mestudio.analysis.fourd.views import yaw_matrix

# AU -> blobs (centre x, y in mm at the face's right side mirrored, sigma mm, displacement dx, dy, dz mm)
_AU_BLOBS: dict[int, list[tuple[float, float, float, float, float, float]]] = {
    1: [(12, 34, 8, 0.0, 3.0, 0.5)],  # inner brow raiser
    2: [(34, 34, 9, 0.0, 3.0, 0.0)],  # outer brow raiser
    4: [(16, 30, 9, -2.0, -2.5, -1.0)],  # brow lowerer: down and together
    6: [(34, -6, 11, 0.0, 2.5, 2.0)],  # cheek raiser
    7: [(30, 14, 6, 0.0, 1.8, 0.8)],  # lid tightener: lower lid up
    12: [(24, -44, 9, 4.0, 3.0, -0.5)],  # lip corner puller: out and up
    17: [(0, -66, 11, 0.0, 3.0, 2.0)],  # chin raiser
    45: [(30, 25, 6, 0.0, -3.0, 0.5)],  # blink: upper lid down (and the eye darkens)
}
COMBOS: tuple[tuple[int, ...], ...] = ((12,), (6, 12), (4,), (4, 7), (1, 4), (1, 2), (2,), (17,), (6,), (6, 45))


@dataclass(frozen=True)
class Identity:
    width: float  # half-width of the face ellipse, mm
    height: float  # half-height, mm
    depth: float  # forehead-to-ear depth, mm
    nose: float  # nose height, mm
    shift: tuple[float, float]  # feature offset, mm
    skin: tuple[float, float, float]  # RGB in [0, 1]

    @classmethod
    def random(cls, rng: np.random.Generator) -> Identity:
        tone = rng.uniform(0.45, 0.85)
        return cls(
            float(rng.uniform(64, 76)),
            float(rng.uniform(86, 100)),
            float(rng.uniform(50, 65)),
            float(rng.uniform(16, 26)),
            (float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3))),
            (tone, tone * rng.uniform(0.72, 0.85), tone * rng.uniform(0.58, 0.72)),
        )


def _g(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float | None = None) -> np.ndarray:
    sy = sx if sy is None else sy
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


class FaceRig:
    """One identity's neutral mesh and its AU deformation; ``mesh(levels, pose)`` per frame."""

    def __init__(self, ident: Identity, step_mm: float = 3.0) -> None:
        self.ident = ident
        xs = np.arange(-ident.width, ident.width + 1e-9, step_mm)
        ys = np.arange(-ident.height, ident.height + 1e-9, step_mm)
        gx, gy = np.meshgrid(xs, ys)
        inside = (gx / ident.width) ** 2 + (gy / ident.height) ** 2 <= 1.0
        index = -np.ones(gx.shape, np.int64)
        index[inside] = np.arange(inside.sum())
        x, y = gx[inside], gy[inside]
        tri = []
        a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
        for t in (np.stack([a, c, b], -1), np.stack([b, c, d], -1)):  # counter-clockwise seen from +z
            t = t.reshape(-1, 3)
            tri.append(t[(t >= 0).all(axis=1)])
        self.triangles = np.concatenate(tri)
        sx, sy = ident.shift
        r = np.clip(1.0 - (x / ident.width) ** 2 - (y / ident.height) ** 2, 0.0, None)
        z = ident.depth * np.sqrt(r)
        z += ident.nose * _g(x, y, sx, sy - 8, 7, 16)  # nose
        z += 4.0 * (_g(x, y, sx - 30, sy + 32, 12, 5) + _g(x, y, sx + 30, sy + 32, 12, 5))  # brow ridges
        z -= 6.0 * (_g(x, y, sx - 30, sy + 20, 9, 6) + _g(x, y, sx + 30, sy + 20, 9, 6))  # eye sockets
        z += 5.0 * _g(x, y, sx, sy - 44, 15, 6)  # lips
        z += 6.0 * _g(x, y, sx, sy - 72, 12, 9)  # chin
        self.rest = np.column_stack([x, y, z])
        self.colors = self._texture(x - sx, y - sy)
        self.eyes = np.maximum(_g(x, y, sx - 30, sy + 21, 6, 3), _g(x, y, sx + 30, sy + 21, 6, 3))
        self.fields = {au: self._field(au, x, y) for au in _AU_BLOBS}

    def _texture(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        skin = np.array(self.ident.skin, np.float32)
        c = np.tile(skin, (len(x), 1))
        # skin pores and freckles: fine texture that moves with the surface
        rng = np.random.default_rng(int(abs(x.sum() * 7 + y.sum())) % (2**32))
        c *= rng.uniform(0.92, 1.08, (len(x), 1)).astype(np.float32)
        brows = np.maximum(_g(x, y, -28, 36, 11, 2.5), _g(x, y, 28, 36, 11, 2.5))
        eyes = np.maximum(_g(x, y, -30, 21, 6, 3), _g(x, y, 30, 21, 6, 3))
        lips = _g(x, y, 0, -44, 14, 4)
        c = c * (1 - 0.75 * brows[:, None]) * (1 - 0.8 * eyes[:, None])
        c = c * (1 - lips[:, None] * 0.3) + lips[:, None] * np.array([0.25, 0.0, 0.0], np.float32)
        return np.clip(c, 0, 1).astype(np.float32)

    def _field(self, au: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        sx, sy = self.ident.shift
        out = np.zeros((len(x), 3))
        for cx, cy, s, dx, dy, dz in _AU_BLOBS[au]:
            sides = (1.0,) if cx == 0 else (1.0, -1.0)
            for side in sides:
                w = _g(x, y, sx + side * cx, sy + cy, s)
                out += w[:, None] * np.array([side * dx, dy, dz])
        return out

    def mesh(self, levels: dict[int, float], yaw_deg: float = 0.0, pitch_deg: float = 0.0, shift=(0, 0, 0)) -> Mesh:
        v = self.rest.copy()
        colors = self.colors.copy()
        for au, lvl in levels.items():
            v += lvl * self.fields[au]
        if 45 in levels:  # a closing lid hides the eye white: the eye region darkens
            colors *= (1 - 0.5 * levels[45] * self.eyes)[:, None]
        a = np.radians(pitch_deg)
        pitch = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        v = v @ (yaw_matrix(yaw_deg) @ pitch).T + np.asarray(shift, np.float64)
        return Mesh(v, self.triangles, colors)


def clip_meshes(
    rig: FaceRig, aus: tuple[int, ...], rng: np.random.Generator, frames: int = 12, pose_deg: float = 3.0
) -> tuple[list[Mesh], int]:
    """One ME clip of ``frames`` meshes (onset 0, offset T-1) and its apex frame: the AUs rise
    linearly to the apex and fall back while the head drifts by up to ``pose_deg``."""
    apex = int(rng.integers(max(1, frames // 3), max(2, 2 * frames // 3) + 1))
    amp = float(rng.uniform(0.6, 1.0))
    start, end = rng.uniform(-pose_deg, pose_deg, (2, 2))
    shift0, shift1 = rng.uniform(-4, 4, (2, 3))
    out = []
    for i in range(frames):
        lvl = amp * (i / apex if i <= apex else (frames - 1 - i) / max(1, frames - 1 - apex))
        f = i / max(1, frames - 1)
        yaw, pitch = start + f * (end - start)
        m = rig.mesh({a: lvl for a in aus}, yaw, pitch, shift0 + f * (shift1 - shift0))
        m.name = f"{i:06d}.ply"
        out.append(m)
    return out, apex
