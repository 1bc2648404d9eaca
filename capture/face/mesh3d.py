"""The 3D face of the rig's person: a textured mesh in millimetres, deformed by the AU script.

Geometry: MediaPipe Face Mesh's 478 landmarks measured once on the photograph
(``landmarks3d.json``, see scripts/measure_face_landmarks3d.py) carry depth; a smooth surface
(smoothed) through them gives the face, an ellipsoid the hair and skull, a cylinder the
neck, blended into one height field that is triangulated on a regular grid (``GRID_PX`` source
pixels, about 1.1 mm).  Texture coordinates are source-image pixels, so the photograph colours
the mesh; the renderer adds fine skin detail (see render3d.py).

Rig frame (mm): X to the image right of the frontal view (the person's left), Y down, Z away
from the frontal camera; the origin is the face centre of the photograph on MediaPipe's z = 0.

The expressions are muscle pull fields (muscles3d.py), not moved landmarks.  Head motion is rigid.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from mestudio.capture.face import anatomy, muscles3d
from mestudio.capture.face.render import MM_PER_SOURCE_PX, source_rgb
from mestudio.capture.face.script import FaceScript

LANDMARKS_FILE = Path(__file__).with_name("landmarks3d.json")
GRID_PX = 0.75  # grid step in source pixels (1.1 mm)
HEAD_DEPTH_PX = 64.0  # half depth of the skull ellipsoid (94 mm)
NECK_RADIUS_PX = 38.0
FADE_PX = 14.0  # the face meets the skull over this many source pixels outside its oval
MESH_VERSION = 1  # bump when the neutral mesh or the deformations change (renders are cached by it)


@dataclass(frozen=True)
class FaceMesh:
    """One state of the face: ``vertices`` (V, 3) float32 mm in the rig frame, ``faces`` (F, 3)
    int32, ``colours`` (V, 3) uint8 RGB, ``face_region`` (V,) bool (inside MediaPipe's face
    oval: where accuracy is measured), ``uv`` (V, 2) float32 source-image pixels."""

    vertices: np.ndarray
    faces: np.ndarray
    colours: np.ndarray
    face_region: np.ndarray
    uv: np.ndarray


@lru_cache(maxsize=1)
def landmarks3d() -> np.ndarray:
    """(478, 3) source pixels: x, y and MediaPipe's z (negative towards the camera)."""
    body = json.loads(LANDMARKS_FILE.read_text(encoding="utf-8"))
    return np.asarray(body["landmarks"], np.float64)


def source_px_to_mm(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    cx, cy = anatomy.FACE_CENTRE
    return np.stack([(x - cx), (y - cy), z], axis=-1) * MM_PER_SOURCE_PX


def _height_field() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid x, y (source px), z (source px, MediaPipe's sign), domain mask, face mask."""
    from scipy.interpolate import LinearNDInterpolator
    from scipy.ndimage import distance_transform_edt, gaussian_filter
    from scipy.spatial import Delaunay

    lm = landmarks3d()
    cx, cy = anatomy.FACE_CENTRE
    ax, ay = anatomy.HEAD_AXES
    chin_y = lm[152, 1]
    xs = np.arange(cx - ax, cx + ax + GRID_PX, GRID_PX)
    ys = np.arange(cy - ay, max(cy + ay, chin_y + 60) + GRID_PX, GRID_PX)
    x, y = np.meshgrid(xs, ys)
    # skull: an ellipsoid whose centre depth makes it meet the face along the landmarks' oval
    r2 = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2
    hull = Delaunay(lm[:, :2])
    border = np.unique(hull.convex_hull)
    rb2 = ((lm[border, 0] - cx) / ax) ** 2 + ((lm[border, 1] - cy) / ay) ** 2
    zc = float(np.median(lm[border, 2] + HEAD_DEPTH_PX * np.sqrt(np.clip(1 - rb2, 0, None))))
    z_skull = np.where(r2 < 1, zc - HEAD_DEPTH_PX * np.sqrt(np.clip(1 - r2, 0, None)), np.inf)
    # neck: a vertical cylinder under the jaw, behind the chin
    nx2 = ((x - cx) / NECK_RADIUS_PX) ** 2
    neck = zc + 8 - NECK_RADIUS_PX * np.sqrt(np.clip(1 - nx2, 0, None))
    z_neck = np.where((nx2 < 1) & (y > chin_y - 25), neck, np.inf)
    shell = np.minimum(z_skull, z_neck)
    # the face: the landmarks' triangulation, then smoothed (a cubic fit overshoots on the oval's
    # slivers); outside the oval the shell takes over, offset to meet the face and fading to
    # itself over FADE_PX, so the surface is continuous where the face ends
    face = LinearNDInterpolator(lm[:, :2], lm[:, 2])(x, y)
    inside = np.isfinite(face)
    shell_f = np.where(np.isfinite(shell), shell, zc)
    dist_out, (iy, ix) = distance_transform_edt(~inside, return_indices=True)
    delta = (np.nan_to_num(face) - shell_f)[iy, ix]
    fade = np.clip(1.0 - dist_out * GRID_PX / FADE_PX, 0.0, 1.0)
    z = np.where(inside, np.nan_to_num(face), shell_f + delta * fade * fade * (3 - 2 * fade))
    z = gaussian_filter(z, 1.6 / GRID_PX)
    depth_in = distance_transform_edt(inside) * GRID_PX
    # the shell stops short of its silhouette (near-vertical triangles add nothing a camera sees well)
    domain = np.minimum(r2, np.where(np.isfinite(z_neck), nx2, 9)) < 0.97
    domain &= y < chin_y + 55
    return x, y, z, domain, inside & (depth_in > 1.0)


def _grid_triangles(domain: np.ndarray) -> np.ndarray:
    """Two triangles per grid cell whose four corners are all in ``domain``; indices into the grid."""
    h, w = domain.shape
    idx = np.arange(h * w).reshape(h, w)
    ok = domain[:-1, :-1] & domain[:-1, 1:] & domain[1:, :-1] & domain[1:, 1:]
    a, b, c, d = (idx[:-1, :-1][ok], idx[:-1, 1:][ok], idx[1:, :-1][ok], idx[1:, 1:][ok])
    # wound so the normals face the frontal camera (-Z) in the rig frame (X right, Y down)
    return np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)])


@lru_cache(maxsize=1)
def neutral_mesh() -> FaceMesh:
    """The face at rest (built once per process, about a second)."""
    x, y, z, domain, face = _height_field()
    tri = _grid_triangles(domain)
    used = np.unique(tri)
    remap = np.full(domain.size, -1, np.int64)
    remap[used] = np.arange(used.size)
    faces = remap[tri].astype(np.int32)
    xf, yf, zf = x.ravel()[used], y.ravel()[used], z.ravel()[used]
    verts = source_px_to_mm(xf, yf, zf).astype(np.float32)
    uv = np.stack([xf, yf], axis=-1).astype(np.float32)
    src = source_rgb()
    xi = np.clip(np.round(xf).astype(int), 0, src.shape[1] - 1)
    yi = np.clip(np.round(yf).astype(int), 0, src.shape[0] - 1)
    colours = np.ascontiguousarray(src[yi, xi])
    return FaceMesh(verts, faces, colours, face.ravel()[used], uv)


def head_drift(t: float, seed: int) -> tuple[float, float, float, float]:
    """Slow involuntary head motion (mm, mm, roll deg, yaw deg): never still, never fast."""
    p = np.random.default_rng(seed).uniform(0, 2 * math.pi, 6)
    dx = 0.7 * math.sin(2 * math.pi * t / 17 + p[0]) + 0.35 * math.sin(2 * math.pi * t / 7.3 + p[1])
    dy = 0.5 * math.sin(2 * math.pi * t / 13 + p[2]) + 0.2 * math.sin(2 * math.pi * t / 5.1 + p[3])
    roll = 0.4 * math.sin(2 * math.pi * t / 19 + p[4])
    yaw = 0.5 * math.sin(2 * math.pi * t / 23 + p[5])
    return dx, dy, roll, yaw


class FaceRig3D:
    """The rig's person in 3D: ``mesh_at(t)`` is the true face at script time ``t``."""

    def __init__(self, script: FaceScript, seed: int = 0, drift: bool = True) -> None:
        self.script = script
        self.seed = seed
        self.drift = drift
        self.neutral = neutral_mesh()
        self._fields = muscles3d.au_fields(self.neutral.vertices)
        # rotations about the head's centre (between the ears), not the rig origin
        self._pivot = np.array([0.0, 0.0, 60.0], np.float32)

    def mesh_at(self, t: float) -> FaceMesh:
        n = self.neutral
        v = n.vertices.copy()
        for au, level in self.script.au_levels(t).items():
            if level > 0.0 and au in self._fields:
                v += np.float32(level) * self._fields[au]
        hx, hy, roll = self.script.head_pose(t)
        # the script's head offsets are pixels of a 640x480 view showing 256 source px
        tx, ty = hx / 2.5 * MM_PER_SOURCE_PX, hy / 2.5 * MM_PER_SOURCE_PX
        yaw = 0.0
        if self.drift:
            dx, dy, droll, yaw = head_drift(t, self.seed)
            tx, ty, roll = tx + dx, ty + dy, roll + droll
        if tx or ty or roll or yaw:
            v = (v - self._pivot) @ rotation_zy(roll, yaw).T + self._pivot + np.array([tx, ty, 0.0], np.float32)
        return FaceMesh(v.astype(np.float32), n.faces, n.colours, n.face_region, n.uv)


def rotation_zy(roll_deg: float, yaw_deg: float) -> np.ndarray:
    """Roll about Z then yaw about Y (the rig frame's axes), as a float32 3x3 matrix."""
    a, b = math.radians(roll_deg), math.radians(yaw_deg)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    return (ry @ rz).astype(np.float32)


def face_mesh_at(t: float, script: FaceScript | None = None, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``(vertices (V,3) float32 mm, faces (F,3) int32, colours (V,3) uint8)`` at script time ``t``.

    ``script`` defaults to ``default_script(3600, seed)``, the script a face device with that
    ``seed`` shows; the topology (faces, colours) is the same at every ``t``.
    """
    if script is None:
        from mestudio.capture.face.script import default_script

        script = default_script(3600.0, seed)
    m = FaceRig3D(script, seed).mesh_at(t)
    return m.vertices, m.faces, m.colours


def write_mesh_ply(path: str | Path, mesh: FaceMesh) -> Path:
    """The mesh as binary PLY (stream/ply.py's layout): x y z in mm (rig frame), red green blue,
    and ``face_region`` (1 on the face, where accuracy is measured)."""
    from mestudio.stream.ply import write_ply

    return write_ply(path, mesh.vertices, mesh.faces, mesh.colours, {"face_region": mesh.face_region})
