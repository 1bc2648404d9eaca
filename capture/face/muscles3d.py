"""The AUs of the 3D face as muscle pull fields on the mesh (mm at intensity 1).

Each muscle (after FACS and facial anatomy) has an insertion region in the skin, a Gaussian
ellipsoid around ``centre`` with radii ``sigma``, and a pull: towards its bony ``origin``
(linear muscles, Waters-style) or along a fixed ``direction`` (the lids' sphincter parts).
Landmarks only *locate* the anatomy (where the zygomatic bone or the mouth corner is); the
deformation is a smooth field over every vertex of the region, so no landmark index the
analyzer reads is moved on its own.  The sigmas keep each field's slope below 1 (no folding).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# MediaPipe indices that locate the anatomy: (person's right, person's left)
_BROW_IN, _BROW_OUT, _BROW_MID = (107, 336), (70, 300), (105, 334)
_IRIS, _LID_UP, _LID_LOW = (468, 473), (159, 386), (145, 374)
_CHEEK, _MOUTH = (205, 425), (61, 291)
_CHIN, _LOWER_LIP, _NASION = 152, 17, 168


@dataclass(frozen=True)
class Muscle:
    centre: tuple[float, float, float]  # mm, rig frame
    sigma: tuple[float, float, float]  # mm
    pull_mm: float
    origin: tuple[float, float, float] | None = None  # pulls towards it ...
    direction: tuple[float, float, float] | None = None  # ... or along this


def _mm(i: int) -> np.ndarray:
    from mestudio.capture.face.mesh3d import landmarks3d, source_px_to_mm

    p = landmarks3d()[i]
    return source_px_to_mm(p[0], p[1], p[2])


def _both(idx: tuple[int, int], build) -> list[Muscle]:
    """One muscle per side; ``build(point, side)`` with side -1 for the person's right (image left)."""
    return [build(_mm(idx[0]), -1.0), build(_mm(idx[1]), 1.0)]


def _t(v) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def muscles() -> dict[int, list[Muscle]]:
    """AU -> the muscles (or muscle parts) it contracts."""
    up = (0.0, -1.0, 0.0)
    chin = _mm(_CHIN)
    nasion = _mm(_NASION)
    return {
        # frontalis, medial part: inner brows up towards the hairline
        1: _both(_BROW_IN, lambda p, s: Muscle(_t(p + (0, -4, 0)), (9, 8, 10), 3.2, _t(p + (-4 * s, -70, 8)))),
        # frontalis, lateral part: outer and mid brow up
        2: _both(_BROW_OUT, lambda p, s: Muscle(_t(p + (-2 * s, -4, 0)), (11, 8, 10), 3.2, _t(p + (6 * s, -70, 8)))),
        # corrugator supercilii + procerus: brows down and together, towards the nasion
        4: _both(_BROW_IN, lambda p, s: Muscle(_t(p), (9, 7, 10), 2.6, _t(nasion + (0, 10, 0))))
        + [Muscle(_t(nasion + (0, -6, 0)), (7, 8, 8), 1.2, direction=(0.0, 1.0, 0.0))],
        # orbicularis oculi, orbital part: cheeks up towards the outer eye corner, lower lid up
        6: _both(_CHEEK, lambda p, s: Muscle(_t(p + (2 * s, -3, 0)), (14, 11, 12), 2.8, _t(p + (12 * s, -40, 5))))
        + _both(_LID_LOW, lambda p, s: Muscle(_t(p + (0, 2, 0)), (9, 5, 8), 1.1, direction=up)),
        # orbicularis oculi, palpebral part: lower lid up, upper lid a little down
        7: _both(_LID_LOW, lambda p, s: Muscle(_t(p + (0, 1.5, 0)), (9, 4.5, 8), 1.8, direction=up))
        + _both(_LID_UP, lambda p, s: Muscle(_t(p), (9, 4.5, 8), 0.8, direction=(0.0, 1.0, 0.0))),
        # zygomaticus major: lip corners up and out towards the zygomatic bone
        12: _both(_MOUTH, lambda p, s: Muscle(_t(p), (10, 9, 10), 4.2, _t(p + (40 * s, -45, 25)))),
        # buccinator: corners pulled in and back (dimpling)
        14: _both(_MOUTH, lambda p, s: Muscle(_t(p), (8, 8, 9), 2.2, _t(p + (25 * s, 0, 45)))),
        # depressor anguli oris: corners down towards the mandible
        15: _both(_MOUTH, lambda p, s: Muscle(_t(p + (0, 2, 0)), (9, 9, 10), 3.4, _t(p + (8 * s, 45, 10)))),
        # mentalis: chin boss up and forward, pushing the lower lip up
        17: [
            Muscle(_t(chin + (0, -12, 0)), (16, 11, 12), 3.0, _t(chin + (0, -40, -15))),
            Muscle(_t(_mm(_LOWER_LIP)), (12, 5, 10), 1.5, direction=up),
        ],
        # blink: the upper lid slides down over the eye, the lower lid up a little
        45: _both(_IRIS, lambda p, s: Muscle(_t(p + (0, -1.5, 0)), (10, 7.4, 9), 8.8, direction=(0.0, 1.0, 0.0)))
        + _both(_LID_LOW, lambda p, s: Muscle(_t(p + (0, 2.2, 0)), (10, 3.7, 9), 2.9, direction=up)),
    }


def displacement(muscle_list: list[Muscle], vertices: np.ndarray) -> np.ndarray:
    """(V, 3) float32 displacement of ``vertices`` (mm) when these muscles contract fully."""
    out = np.zeros_like(vertices, dtype=np.float32)
    for m in muscle_list:
        d = (vertices - np.asarray(m.centre, np.float32)) / np.asarray(m.sigma, np.float32)
        g = np.exp(-0.5 * np.einsum("ij,ij->i", d, d))[:, None]
        if m.origin is not None:
            pull = np.asarray(m.origin, np.float32) - vertices
            pull /= np.linalg.norm(pull, axis=1, keepdims=True) + 1e-6
        else:
            pull = np.broadcast_to(np.asarray(m.direction, np.float32), vertices.shape)
        out += (m.pull_mm * g * pull).astype(np.float32)
    return out


@lru_cache(maxsize=1)
def _neutral_fields() -> dict[int, np.ndarray]:
    from mestudio.capture.face.mesh3d import neutral_mesh

    v = neutral_mesh().vertices
    return {au: displacement(ms, v) for au, ms in muscles().items()}


def au_fields(vertices: np.ndarray) -> dict[int, np.ndarray]:
    """AU -> (V, 3) displacement field at intensity 1 on the neutral mesh ``vertices``."""
    from mestudio.capture.face.mesh3d import neutral_mesh

    if vertices is neutral_mesh().vertices:
        return _neutral_fields()
    return {au: displacement(ms, vertices) for au, ms in muscles().items()}
