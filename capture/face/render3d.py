"""Renders the 3D face through calibrated cameras by ray casting (open3d's Embree scene, CPU).

Why not a rasterizer or open3d's OffscreenRenderer: casting one ray per pixel gives exact depth
and the exact surface point under every pixel, with the cameras' own lens distortion, on any
machine (no GPU, no Vulkan); here it takes about 0.15 s for a 1600x1200 view of the head
(rays are cast only inside the head's projected box) and one scene per mesh state serves
every camera of a rig.  Frames for live devices are rendered ahead and cached (prerender.py).

Skin: the photograph's colour (texture coordinates are its pixels) times fine speckle, the
pores and freckles real skin has too little of for stereo: band-limited noise of about 0.4 mm
(``SPECKLE_PER_PX`` texels per source pixel, blurred), +-20 % in brightness.  Shading is
Lambertian under one light above the frontal camera, so a point looks the same from every view.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from mestudio.capture.face.mesh3d import FaceMesh
from mestudio.capture.face.render import source_rgb
from mestudio.stream.cameras import Camera

SPECKLE_PER_PX = 8  # speckle texels per source pixel (1.47 mm / 8 = 0.18 mm)
SPECKLE_AMPLITUDE = 0.2
SPECKLE_BOX = (140, 16, 312, 256)  # source px box the head's texture lies in (x0, y0, x1, y1)
LIGHT = np.array([0.15, -0.35, -1.0]) / np.linalg.norm([0.15, -0.35, -1.0])  # towards the light
AMBIENT = 0.3
BACKGROUND = 18.0
RENDER3D_VERSION = 1  # bump when pixels change: cached renders are keyed by it


@lru_cache(maxsize=1)
def speckle_texture() -> np.ndarray:
    """float32 multiplicative skin detail over SPECKLE_BOX, mean 1."""
    x0, y0, x1, y1 = SPECKLE_BOX
    shape = ((y1 - y0) * SPECKLE_PER_PX, (x1 - x0) * SPECKLE_PER_PX)
    noise = np.random.default_rng(20221).standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.1)
    noise /= noise.std() + 1e-6
    return 1.0 + SPECKLE_AMPLITUDE * np.clip(noise, -2.5, 2.5) / 2.5 * 2.0


@lru_cache(maxsize=1)
def albedo_texture() -> np.ndarray:
    """float32 RGB 0..1 of the photograph."""
    return source_rgb().astype(np.float32) / 255.0


@lru_cache(maxsize=16)
def _rays(camera_key: tuple) -> np.ndarray:
    """(H, W, 3) ray directions in the camera frame with z = 1 (undistorted), cached per camera."""
    fx, fy, cx, cy, w, h, *dist = camera_key
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    pts = cv2.undistortPointsIter(
        np.stack([u.ravel(), v.ravel()], -1)[:, None, :],
        K,
        np.asarray(dist),
        None,
        None,
        (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-9),
    ).reshape(h, w, 2)
    return np.concatenate([pts, np.ones((h, w, 1))], axis=-1).astype(np.float32)


def _key(cam: Camera) -> tuple:
    K = cam.K
    return (K[0, 0], K[1, 1], K[0, 2], K[1, 2], cam.width, cam.height, *map(float, cam.dist))


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    idx = f.ravel()
    n = np.stack([np.bincount(idx, np.repeat(fn[:, k], 3), minlength=len(v)) for k in range(3)], axis=1)
    return n / (np.linalg.norm(n, axis=1, keepdims=True) + 1e-12)


class MeshScene:
    """One state of the mesh, ready to be seen by any number of cameras."""

    def __init__(self, mesh: FaceMesh) -> None:
        import open3d as o3d

        self.mesh = mesh
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(mesh.vertices), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
        self.normals = vertex_normals(mesh.vertices, mesh.faces)

    def cast(self, cam: Camera, margin_px: int = 8) -> dict[str, Any]:
        """Per pixel: ``depth`` (z in the camera frame, mm; inf on a miss), ``uv`` (source px),
        ``normal`` (rig frame), ``hit`` mask. Rays go only inside the mesh's projected box."""
        import open3d as o3d

        h, w = cam.height, cam.width
        box = cam.project(self._bbox_corners())
        x0, y0 = np.clip(np.floor(box.min(0)).astype(int) - margin_px, 0, [w, h])
        x1, y1 = np.clip(np.ceil(box.max(0)).astype(int) + margin_px, 0, [w, h])
        depth = np.full((h, w), np.inf, np.float32)
        uv = np.zeros((h, w, 2), np.float32)
        normal = np.zeros((h, w, 3), np.float32)
        if x1 <= x0 or y1 <= y0:
            return {"depth": depth, "uv": uv, "normal": normal, "hit": np.isfinite(depth)}
        d_cam = _rays(_key(cam))[y0:y1, x0:x1]
        d_rig = d_cam @ cam.R.astype(np.float32)
        origin = np.broadcast_to(cam.centre.astype(np.float32), d_rig.shape)
        rays = np.concatenate([origin, d_rig], axis=-1).reshape(-1, 6)
        r = self.scene.cast_rays(o3d.core.Tensor(np.ascontiguousarray(rays)))
        t = r["t_hit"].numpy().reshape(y1 - y0, x1 - x0)
        hit = np.isfinite(t)
        prim = r["primitive_ids"].numpy().reshape(t.shape)[hit]
        bary = r["primitive_uvs"].numpy().reshape(*t.shape, 2)[hit]
        f = self.mesh.faces[prim]
        w1, w2 = bary[:, 0:1], bary[:, 1:2]
        w0 = 1.0 - w1 - w2
        sub_uv = np.zeros((*t.shape, 2), np.float32)
        sub_uv[hit] = w0 * self.mesh.uv[f[:, 0]] + w1 * self.mesh.uv[f[:, 1]] + w2 * self.mesh.uv[f[:, 2]]
        n = w0 * self.normals[f[:, 0]] + w1 * self.normals[f[:, 1]] + w2 * self.normals[f[:, 2]]
        sub_n = np.zeros((*t.shape, 3), np.float32)
        sub_n[hit] = n / (np.linalg.norm(n, axis=1, keepdims=True) + 1e-12)
        depth[y0:y1, x0:x1] = t  # direction z = 1 in the camera frame: t is the depth
        uv[y0:y1, x0:x1] = sub_uv
        normal[y0:y1, x0:x1] = sub_n
        return {"depth": depth, "uv": uv, "normal": normal, "hit": np.isfinite(depth), "rays": (x0, y0, x1, y1)}

    def _bbox_corners(self) -> np.ndarray:
        lo, hi = self.mesh.vertices.min(0), self.mesh.vertices.max(0)
        return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])

    def shade(self, cam: Camera, cast: dict[str, np.ndarray]) -> np.ndarray:
        """float32 RGB radiance 0..1 (background included) from a ``cast``."""
        hit = cast["hit"]
        uv = cast["uv"]
        albedo = cv2.remap(albedo_texture(), uv[..., 0], uv[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        x0, y0 = SPECKLE_BOX[:2]
        su = (uv[..., 0] - x0) * SPECKLE_PER_PX
        sv = (uv[..., 1] - y0) * SPECKLE_PER_PX
        speckle = cv2.remap(speckle_texture(), su, sv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        lambert = np.clip(cast["normal"] @ LIGHT.astype(np.float32), 0.0, 1.0)
        shade = (AMBIENT + (1 - AMBIENT) * lambert) * speckle
        img = albedo * shade[..., None]
        img[~hit] = BACKGROUND / 255.0
        return img


def to_gray8(rgb: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    g = (rgb @ np.array([0.299, 0.587, 0.114], np.float32)) * 255.0
    if noise is not None:
        g = g + noise
    return np.clip(g + 0.5, 0, 255).astype(np.uint8)


def to_rgb8(rgb: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    c = rgb * 255.0
    if noise is not None:
        c = c + noise[..., None]
    return np.clip(c + 0.5, 0, 255).astype(np.uint8)


def kinect_depth(cam: Camera, cast: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """uint16 mm like a structured-light Kinect: disparity noise and 1/8 px quantisation on the
    IR baseline (error grows with z^2, ~1 mm at 0.8 m), holes where the surface is seen at more
    than ~72 degrees, and 0 for no depth."""
    b = float(cam.extra.get("ir_baseline_mm", 75.0))
    f = float(cam.extra.get("ir_focal_px", 580.0))
    z = cast["depth"]
    hit = cast["hit"]
    out = np.zeros(z.shape, np.uint16)
    if not hit.any():
        return out
    disp = b * f / z[hit]
    disp = np.round((disp + rng.normal(0.0, 0.07, disp.shape)) * 8.0) / 8.0
    zq = b * f / disp
    # incidence: the angle between the surface normal and the ray back to the camera
    d_cam = _rays(_key(cam))[hit]
    view = -(d_cam @ cam.R.astype(np.float32))
    view /= np.linalg.norm(view, axis=1, keepdims=True)
    cos_inc = np.einsum("ij,ij->i", cast["normal"][hit], view)
    zq[(cos_inc < 0.3) | (zq < 400) | (zq > 4000)] = 0
    out[hit] = np.round(zq).astype(np.uint16)
    return out
