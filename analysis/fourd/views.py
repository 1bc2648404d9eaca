"""Left / front / right profiles of aligned face meshes in three domains, at a fixed size.

Projection: orthographic. Each profile turns the aligned face about the vertical axis through
the crop centre: ``left`` by -yaw (the subject's left cheek turns towards the viewer), ``front``
0, ``right`` +yaw (default yaw 45 degrees). The image frame (centre, mm per pixel) and the depth
range of each profile are fixed from the clip's first mesh, so that every frame of a clip shares
them and only the face's own motion changes the pixels.

Domains (uint8 images, H x W):
- ``dpi``: depth image. Background 0; the surface maps linearly from the profile's far depth
  (1) to its near depth (255): ``z_mm = far + (v / 255) * (near - far)`` (both in the spec).
- ``edpi``: enhanced depth image: the depth's local relief, ``z - G_sigma * z`` (a Gaussian
  low-pass taken over the surface only, sigma = side / 16 pixels), at a fixed 0.05 mm per grey
  level around 128, background 0. It removes the global shape of the head that dominates DPI and
  shows the fine deformations (wrinkles, bulges) that ME actions make. This is our reading of
  CCDN's "enhanced depth"; Behzad et al. (BMVC 2019) were not available here to check their
  exact formula.
- ``texture``: the vertex colours' luma (ITU-R 601), unlit; a mesh without colours gets a
  Lambert shading under a light from the viewer instead, and the spec says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mestudio.analysis.fourd.align import SequenceAligner
from mestudio.analysis.fourd.errors import MeshError
from mestudio.analysis.fourd.mesh import Mesh
from mestudio.analysis.fourd.raster import rasterize

PROFILES: tuple[str, ...] = ("left", "front", "right")
DOMAINS: tuple[str, ...] = ("dpi", "edpi", "texture")
_YAW_SIGN = {"left": -1.0, "front": 0.0, "right": 1.0}
EDPI_MM_PER_LEVEL = 0.05


def yaw_matrix(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def ortho_frame(vertices: np.ndarray, size: int, fill: float = 0.92) -> tuple[float, float, float]:
    """(centre x, centre y, mm per pixel) framing ``vertices`` in a ``size`` square."""
    lo, hi = vertices[:, :2].min(axis=0), vertices[:, :2].max(axis=0)
    extent = float(max(hi - lo)) or 1.0
    return float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2), extent / (size * fill)


def vertex_normals(mesh: Mesh) -> np.ndarray:
    v, t = mesh.vertices, mesh.triangles
    fn = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, t[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def render_arrays(
    mesh: Mesh, rotation: np.ndarray, frame: tuple[float, float, float], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(depth mm (S, S), NaN off the surface; colour (S, S, 3) in [0, 1]) of the rotated mesh.

    Without vertex colours the colour is a Lambert shading under a light from the viewer."""
    v = mesh.vertices @ np.asarray(rotation).T
    cx, cy, mmpp = frame
    uv = np.column_stack([(v[:, 0] - cx) / mmpp + size / 2, (cy - v[:, 1]) / mmpp + size / 2])
    if mesh.colors is not None:
        attrs = mesh.colors
    else:
        shade = np.clip((vertex_normals(mesh) @ np.asarray(rotation).T)[:, 2], 0.0, 1.0)
        attrs = np.repeat(shade[:, None], 3, axis=1)
    depth, rgb = rasterize(uv, v[:, 2], mesh.triangles, attrs, size, size)
    assert rgb is not None  # attrs were given
    return depth, rgb


@dataclass(frozen=True)
class ProfileSpec:
    name: str
    yaw_deg: float
    center: tuple[float, float, float]  # rotation centre (the crop centre), mm
    frame: tuple[float, float, float]  # image centre x, y (mm) and mm per pixel, after rotation
    near_mm: float  # depth mapped to 255
    far_mm: float  # depth mapped to 1


@dataclass(frozen=True)
class ViewSpec:
    size: int
    profiles: tuple[ProfileSpec, ...]
    textured: bool

    def profile(self, name: str) -> ProfileSpec:
        for p in self.profiles:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "size": self.size,
            "texture": "vertex colours (luma)" if self.textured else "Lambert shading (mesh has no colours)",
            "edpi_mm_per_level": EDPI_MM_PER_LEVEL,
            "profiles": {
                p.name: {
                    "yaw_deg": p.yaw_deg,
                    "rotation_center_mm": list(p.center),
                    "image_center_mm": list(p.frame[:2]),
                    "mm_per_pixel": p.frame[2],
                    "dpi_near_mm": p.near_mm,
                    "dpi_far_mm": p.far_mm,
                }
                for p in self.profiles
            },
        }


def view_spec(
    reference: Mesh, size: int = 64, yaw_deg: float = 45.0, center: Sequence[float] | np.ndarray | None = None
) -> ViewSpec:
    """The fixed framing of every profile, from a clip's (aligned, cropped) reference mesh."""
    c = np.asarray(center if center is not None else reference.vertices.mean(axis=0), np.float64)
    specs = []
    for name in PROFILES:
        yaw = _YAW_SIGN[name] * yaw_deg
        v = (reference.vertices - c) @ yaw_matrix(yaw).T
        frame = ortho_frame(v, size)
        zlo, zhi = float(v[:, 2].min()), float(v[:, 2].max())
        margin = 0.05 * (zhi - zlo or 1.0)
        specs.append(ProfileSpec(name, yaw, tuple(c.tolist()), frame, zhi + margin, zlo - margin))
    return ViewSpec(size, tuple(specs), reference.colors is not None)


def dpi_image(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    on = np.isfinite(depth)
    v = 1 + 254 * (np.where(on, depth, far) - far) / (near - far)
    return np.where(on, np.clip(np.rint(v), 1, 255), 0).astype(np.uint8)


def dpi_to_mm(img: np.ndarray, near: float, far: float) -> np.ndarray:
    """Depth in mm of a DPI image (NaN on the background): the inverse of the mapping above."""
    v = np.asarray(img, np.float64)
    return np.where(v > 0, far + (v - 1) / 254 * (near - far), np.nan)


def edpi_image(depth: np.ndarray) -> np.ndarray:
    import cv2

    mask = np.isfinite(depth).astype(np.float32)
    z = np.nan_to_num(depth).astype(np.float32)
    sigma = depth.shape[0] / 16.0
    low = cv2.GaussianBlur(z * mask, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(mask, (0, 0), sigma), 1e-6)
    v = 128 + (z - low) / EDPI_MM_PER_LEVEL
    return (np.clip(np.rint(v), 1, 255) * mask).astype(np.uint8)


def texture_image(rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return (np.clip(np.rint(luma * 255), 0, 255) * np.isfinite(depth)).astype(np.uint8)


def render_views(mesh: Mesh, spec: ViewSpec) -> dict[str, dict[str, np.ndarray]]:
    """{profile: {domain: (S, S) uint8}} of one aligned, cropped mesh."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for p in spec.profiles:
        centred = Mesh(mesh.vertices - np.asarray(p.center), mesh.triangles, mesh.colors, mesh.name)
        depth, rgb = render_arrays(centred, yaw_matrix(p.yaw_deg), p.frame, spec.size)
        out[p.name] = {
            "dpi": dpi_image(depth, p.near_mm, p.far_mm),
            "edpi": edpi_image(depth),
            "texture": texture_image(rgb, depth),
        }
    return out


class ViewRenderer:
    """Aligns each mesh onto ``reference`` and renders its views with the reference's framing;
    one mesh at a time, so long sequences stream."""

    def __init__(
        self,
        reference: Mesh,
        size: int = 64,
        yaw_deg: float = 45.0,
        landmarks: str = "auto",
        radius_mm: float = 100.0,
    ) -> None:
        self.aligner = SequenceAligner(reference, landmarks, radius_mm)
        ref, _ = self.aligner.align(reference)
        self.spec = view_spec(ref, size, yaw_deg, self.aligner.center)
        self.residuals: list[float] = []

    def render(self, mesh: Mesh) -> dict[str, dict[str, np.ndarray]]:
        aligned, rms = self.aligner.align(mesh)
        self.residuals.append(rms)
        return render_views(aligned, self.spec)

    def report(self) -> dict:
        return {**self.aligner.report(self.residuals), "spec": self.spec.to_dict()}


@dataclass
class FourDClip:
    """One clip's views: ``frames[profile, domain, t]`` is an (S, S) uint8 image."""

    frames: np.ndarray  # (P, D, T, S, S) uint8
    spec: ViewSpec
    names: list[str] = field(default_factory=list)  # the meshes' file names, frame order
    report: dict = field(default_factory=dict)  # alignment report
    profiles: tuple[str, ...] = PROFILES
    domains: tuple[str, ...] = DOMAINS


def views_of_sequence(
    meshes: Sequence[Mesh],
    size: int = 64,
    yaw_deg: float = 45.0,
    landmarks: str = "auto",
    radius_mm: float = 100.0,
) -> FourDClip:
    """Align ``meshes`` to the first, crop to the face, render every profile and domain."""
    meshes = list(meshes)
    if not meshes:
        raise MeshError("no meshes in the sequence")
    renderer = ViewRenderer(meshes[0], size, yaw_deg, landmarks, radius_mm)
    frames = np.zeros((len(PROFILES), len(DOMAINS), len(meshes), size, size), np.uint8)
    for t, m in enumerate(meshes):
        imgs = renderer.render(m)
        for i, p in enumerate(PROFILES):
            for j, d in enumerate(DOMAINS):
                frames[i, j, t] = imgs[p][d]
    return FourDClip(frames, renderer.spec, [m.name for m in meshes], renderer.report())
