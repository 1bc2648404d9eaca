"""Multi-view stereo of one frame set: each pair rectified, matched densely, triangulated; the
pairs' depth maps fused into one surface (TSDF), meshed and cropped to the head.

Per pair: ``cv2.stereoRectify`` + ``initUndistortRectifyMap`` (cached per calibration);
a coarse SGBM at 1/4 scale finds the disparity range of what is in front of the rig, then
full-resolution SGBM (3-way, 1/16 px sub-pixel, left-right check, uniqueness and speckle
filters) matches only inside it.  Disparities become depth in the rectified left camera; pixels
near depth edges (silhouettes, where SGBM smears) are dropped.  The three depth maps are fused
with open3d's voxel-block TSDF (``VOXEL_MM``), whose marching-cubes surface is the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from mestudio.reconstruct.geometry import Cam

VOXEL_MM = 0.8
TRUNC_VOXELS = 5.0
HEAD_RADIUS_MM = 230.0


@dataclass
class RectifiedPair:
    left: Cam
    right: Cam
    maps: tuple  # (l1, l2, r1, r2) remap tables
    R1: np.ndarray
    P1: np.ndarray
    Q: np.ndarray
    size: tuple[int, int]
    focal: float
    baseline: float
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, a: Cam, b: Cam) -> RectifiedPair:
        R = b.R @ a.R.T
        T = b.t - R @ a.t
        size = (a.width, a.height)
        R1, R2, P1, P2, Q, _, _ = cv2.stereoRectify(
            a.K, a.dist, b.K, b.dist, size, R, T, flags=cv2.CALIB_ZERO_DISPARITY, alpha=-1
        )
        l1, l2 = cv2.initUndistortRectifyMap(a.K, a.dist, R1, P1, size, cv2.CV_16SC2)
        r1, r2 = cv2.initUndistortRectifyMap(b.K, b.dist, R2, P2, size, cv2.CV_16SC2)
        return cls(a, b, (l1, l2, r1, r2), R1, P1, Q, size, float(P1[0, 0]), float(np.linalg.norm(T)))

    def rectify(self, img_l: np.ndarray, img_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        l1, l2, r1, r2 = self.maps
        return (
            cv2.remap(img_l, l1, l2, cv2.INTER_LINEAR),
            cv2.remap(img_r, r1, r2, cv2.INTER_LINEAR),
        )

    def world_to_rect(self) -> np.ndarray:
        """4x4: calibration frame -> rectified left camera frame."""
        T = np.eye(4)
        T[:3, :3] = self.R1 @ self.left.R
        T[:3, 3] = self.R1 @ self.left.t
        return T


def _sgbm(min_d: int, num_d: int, block: int) -> cv2.StereoSGBM:
    return cv2.StereoSGBM.create(
        minDisparity=min_d,
        numDisparities=num_d,
        blockSize=block,
        P1=8 * block * block,
        P2=32 * block * block,
        disp12MaxDiff=1,
        uniquenessRatio=8,
        speckleWindowSize=150,
        speckleRange=2,
        preFilterCap=31,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )


def _foreground_box(gray: np.ndarray, level: int = 40, margin: int = 16) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of what is lit in front of the dark background."""
    small = cv2.resize(gray, None, fx=0.125, fy=0.125, interpolation=cv2.INTER_AREA)
    ys, xs = np.nonzero(small > level)
    h, w = gray.shape
    if xs.size < 20:
        return 0, 0, w, h
    x0, x1 = np.percentile(xs, [0.2, 99.8]) * 8
    y0, y1 = np.percentile(ys, [0.2, 99.8]) * 8
    return (
        max(0, int(x0) - margin),
        max(0, int(y0) - margin),
        min(w, int(x1) + 8 + margin),
        min(h, int(y1) + 8 + margin),
    )


def _disparity_range(gl: np.ndarray, gr: np.ndarray, pair: RectifiedPair, centre_depth: float) -> tuple[int, int]:
    """(min, count) for full resolution, from a coarse match of the foreground at 1/4 scale."""
    s = 4
    small_l = cv2.resize(gl, None, fx=1 / s, fy=1 / s, interpolation=cv2.INTER_AREA)
    small_r = cv2.resize(gr, None, fx=1 / s, fy=1 / s, interpolation=cv2.INTER_AREA)
    d_near = pair.focal * pair.baseline / max(centre_depth - HEAD_RADIUS_MM, 100.0)
    d_far = pair.focal * pair.baseline / (centre_depth + HEAD_RADIUS_MM)
    lo = int(d_far / s) // 16 * 16
    n = max(16, int(np.ceil((d_near / s - lo) / 16.0)) * 16)
    disp = _sgbm(lo, n, 5).compute(small_l, small_r).astype(np.float32) / 16.0
    valid = disp[(disp > lo) & (small_l > 40)]
    if valid.size < 100:
        return int(d_far) // 16 * 16, int(np.ceil((d_near - d_far) / 16)) * 16
    a, b = np.percentile(valid, [1.0, 99.0]) * s
    lo_f = int(max(0, a - 16)) // 16 * 16
    return lo_f, max(32, int(np.ceil((b + 16 - lo_f) / 16.0)) * 16)


def pair_depth(pair: RectifiedPair, img_l: np.ndarray, img_r: np.ndarray, centre_depth: float) -> dict:
    """Depth (mm, float32, 0 = none) in the rectified left camera, and its grey image."""
    gl, gr = pair.rectify(img_l, img_r)
    if gl.ndim == 3:
        gl, gr = cv2.cvtColor(gl, cv2.COLOR_RGB2GRAY), cv2.cvtColor(gr, cv2.COLOR_RGB2GRAY)
    lo, n = _disparity_range(gl, gr, pair, centre_depth)
    x0, y0, x1, y1 = _foreground_box(gl)
    disp = _match_box(gl, gr, (x0, y0, x1, y1), lo, n)
    valid = disp > lo
    depth_box = np.zeros_like(disp)
    depth_box[valid] = pair.focal * pair.baseline / disp[valid]
    # drop depth edges: a jump of more than 6 mm in 5x5 pixels means SGBM straddled a silhouette
    k = np.ones((5, 5), np.uint8)
    hi = cv2.dilate(np.where(valid, depth_box, 0).astype(np.float32), k)
    lo_ = cv2.erode(np.where(valid, depth_box, 1e9).astype(np.float32), k)
    keep = valid & ((hi - lo_) <= 6.0)
    keep = cv2.erode(keep.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    depth_box[~keep] = 0
    depth = np.zeros(gl.shape, np.float32)
    depth[y0:y1, x0:x1] = depth_box
    return {"depth": depth, "gray": gl, "box": (x0, y0, x1, y1), "disparity": (lo, n)}


def _match_box(gl: np.ndarray, gr: np.ndarray, box: tuple[int, int, int, int], lo: int, n: int) -> np.ndarray:
    """SGBM disparities (px, float32) of the left image's ``box``, searched in ``[lo, lo + n)``.

    The crops start ``lo + n`` columns left of the box (where the right image's matches lie);
    SGBM computes nothing for those first columns, so its work is the box's alone."""
    x0, y0, x1, y1 = box
    xr = max(0, x0 - lo - n)
    d = _sgbm(lo, n, 5).compute(gl[y0:y1, xr:x1], gr[y0:y1, xr:x1]).astype(np.float32) / 16.0
    return d[:, x0 - xr :]


def crop_depth(depth: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray, centre: np.ndarray, radius: float) -> None:
    """Zero the depth of pixels farther than ``radius`` from ``centre`` (in place): the head only."""
    ys, xs = np.nonzero(depth)
    z = depth[ys, xs]
    c = world_to_cam[:3, :3] @ centre + world_to_cam[:3, 3]
    x = (xs.astype(np.float32) - K[0, 2]) / K[0, 0] * z - c[0]
    y = (ys.astype(np.float32) - K[1, 2]) / K[1, 1] * z - c[1]
    far = (x * x + y * y + (z - c[2]) ** 2) > radius * radius
    depth[ys[far], xs[far]] = 0


def fuse_depths(
    views: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    voxel_mm: float = VOXEL_MM,
    depth_max_mm: float = 3000.0,
) -> dict[str, Any]:
    """TSDF of ``(depth mm float32, rgb uint8, K 3x3, world->camera 4x4)`` views ->
    ``{"vertices", "faces", "colours"}`` (marching cubes of open3d's voxel-block grid)."""
    import open3d as o3d
    import open3d.core as o3c

    vbg = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight", "color"),
        attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
        attr_channels=((1), (1), (3)),
        voxel_size=voxel_mm,
        block_resolution=8,
        block_count=12000,
        device=o3c.Device("CPU:0"),
    )
    for depth, rgb, K, T in views:
        d = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(depth, np.float32)))
        c = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(rgb.astype(np.float32) / 255.0)))
        Kt = o3c.Tensor(np.asarray(K, np.float64))
        Tt = o3c.Tensor(np.asarray(T, np.float64))
        blocks = vbg.compute_unique_block_coordinates(d, Kt, Tt, 1.0, depth_max_mm, TRUNC_VOXELS)
        vbg.integrate(blocks, d, c, Kt, Tt, 1.0, depth_max_mm, TRUNC_VOXELS)
    # a voxel seen by one view (weight 1) counts: the Kinect path has one view, the pairs overlap little
    m = vbg.extract_triangle_mesh(weight_threshold=0.5)
    if m.vertex.positions.shape[0] == 0:
        return {"vertices": np.zeros((0, 3), np.float32), "faces": np.zeros((0, 3), np.int32), "colours": None}
    colours = m.vertex.colors.numpy() if "colors" in m.vertex else None
    return {
        "vertices": m.vertex.positions.numpy().astype(np.float32),
        "faces": m.triangle.indices.numpy().astype(np.int32),
        "colours": None if colours is None else np.clip(colours * 255 + 0.5, 0, 255).astype(np.uint8),
    }


def largest_piece(mesh: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keep the largest connected part of the mesh (the head), drop floating bits."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    v, f = mesh["vertices"], mesh["faces"]
    if len(f) == 0:
        return mesh
    n = len(v)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    g = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    _, label = connected_components(g, directed=False)
    biggest = np.bincount(label[f[:, 0]]).argmax()
    keep_f = f[label[f[:, 0]] == biggest]
    used = np.unique(keep_f)
    remap = np.full(n, -1, np.int64)
    remap[used] = np.arange(used.size)
    out = {"vertices": v[used], "faces": remap[keep_f].astype(np.int32), "colours": None}
    if mesh.get("colours") is not None:
        out["colours"] = mesh["colours"][used]
    return out


def stereo_frame(pairs: list[RectifiedPair], images: dict[str, np.ndarray], centre: np.ndarray) -> dict:
    """One frame set's mesh from the pairs (images by camera name)."""
    views, points = [], 0
    for p in pairs:
        cd = float(np.linalg.norm(p.left.centre - centre))
        r = pair_depth(p, images[p.left.name], images[p.right.name], cd)
        T = p.world_to_rect()
        K = p.P1[:3, :3]
        crop_depth(r["depth"], K, T, centre, HEAD_RADIUS_MM)
        rgb = np.repeat(r["gray"][..., None], 3, axis=2)
        views.append((r["depth"], rgb, K, T))
        points += int((r["depth"] > 0).sum())
    return {"mesh": largest_piece(fuse_depths(views)), "points": points}
