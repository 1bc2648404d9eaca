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

import cv2
import numpy as np

from mestudio.reconstruct.geometry import Cam

VOXEL_MM = 0.6
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


def _disparity_range(gl: np.ndarray, gr: np.ndarray, pair: RectifiedPair, centre_depth: float) -> tuple[int, int]:
    """(min, count) for full resolution, from a coarse match at 1/4 scale."""
    s = 4
    small_l = cv2.resize(gl, None, fx=1 / s, fy=1 / s, interpolation=cv2.INTER_AREA)
    small_r = cv2.resize(gr, None, fx=1 / s, fy=1 / s, interpolation=cv2.INTER_AREA)
    d_near = pair.focal * pair.baseline / max(centre_depth - HEAD_RADIUS_MM, 100.0)
    d_far = pair.focal * pair.baseline / (centre_depth + HEAD_RADIUS_MM)
    lo = int(d_far / s) // 16 * 16
    n = max(16, int(np.ceil((d_near / s - lo) / 16.0)) * 16)
    disp = _sgbm(lo, n, 5).compute(small_l, small_r).astype(np.float32) / 16.0
    valid = disp[disp > lo]
    if valid.size < 100:
        return int(d_far) // 16 * 16, int(np.ceil((d_near - d_far) / 16)) * 16
    a, b = np.percentile(valid, [0.5, 99.5]) * s
    lo_f = int(max(0, a - 12)) // 16 * 16
    return lo_f, max(32, int(np.ceil((b + 12 - lo_f) / 16.0)) * 16)


def pair_depth(pair: RectifiedPair, img_l: np.ndarray, img_r: np.ndarray, centre_depth: float) -> dict:
    """Depth (mm, float32, 0 = none) in the rectified left camera, and its grey image."""
    gl, gr = pair.rectify(img_l, img_r)
    if gl.ndim == 3:
        gl, gr = cv2.cvtColor(gl, cv2.COLOR_RGB2GRAY), cv2.cvtColor(gr, cv2.COLOR_RGB2GRAY)
    lo, n = _disparity_range(gl, gr, pair, centre_depth)
    disp = _sgbm(lo, n, 5).compute(gl, gr).astype(np.float32) / 16.0
    valid = disp > lo
    depth = np.zeros_like(disp)
    depth[valid] = pair.focal * pair.baseline / disp[valid]
    # drop depth edges: a jump of more than 2 mm to a neighbour means SGBM straddled a silhouette
    d = np.where(valid, depth, 0)
    k = np.ones((5, 5), np.uint8)
    hi = cv2.dilate(d, k)
    lo_ = cv2.erode(np.where(valid, depth, 1e9).astype(np.float32), k)
    edge = (hi - lo_) > 6.0
    keep = valid & ~edge
    keep = cv2.erode(keep.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    depth[~keep] = 0
    return {"depth": depth, "gray": gl, "valid": keep, "disparity": (lo, n)}


def fuse_depths(
    views: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    voxel_mm: float = VOXEL_MM,
    depth_max_mm: float = 3000.0,
):
    """TSDF of ``(depth mm float32, rgb uint8, K 3x3, world->camera 4x4)`` views -> open3d legacy mesh."""
    import open3d as o3d
    import open3d.core as o3c

    dev = o3c.Device("CPU:0")
    vbg = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight", "color"),
        attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
        attr_channels=((1), (1), (3)),
        voxel_size=voxel_mm,
        block_resolution=8,
        block_count=60000,
        device=dev,
    )
    for depth, rgb, K, T in views:
        d = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(depth, np.float32)))
        c = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(rgb.astype(np.float32) / 255.0)))
        Kt = o3c.Tensor(K, o3c.float64)
        Tt = o3c.Tensor(T, o3c.float64)
        blocks = vbg.compute_unique_block_coordinates(d, Kt, Tt, 1.0, depth_max_mm, TRUNC_VOXELS)
        vbg.integrate(blocks, d, c, Kt, Tt, 1.0, depth_max_mm, TRUNC_VOXELS)
    return vbg.extract_triangle_mesh(weight_threshold=1.0).to_legacy()


def clean_mesh(mesh, centre: np.ndarray, radius_mm: float = HEAD_RADIUS_MM):
    """Crop to the head's sphere and keep the largest connected piece."""
    import open3d as o3d

    v = np.asarray(mesh.vertices)
    if len(v) == 0:
        return mesh
    far = np.linalg.norm(v - centre, axis=1) > radius_mm
    mesh.remove_vertices_by_mask(far)
    if len(mesh.triangles) == 0:
        return mesh
    labels, counts, _ = mesh.cluster_connected_triangles()
    labels = np.asarray(labels)
    counts = np.asarray(counts)
    mesh.remove_triangles_by_mask(labels != int(np.argmax(counts)))
    mesh.remove_unreferenced_vertices()
    mesh.compute_vertex_normals()
    return o3d.geometry.TriangleMesh(mesh)


def stereo_frame(pairs: list[RectifiedPair], images: dict[str, np.ndarray], centre: np.ndarray) -> dict:
    """One frame set's mesh from the pairs (images by camera name)."""
    views, points = [], 0
    for p in pairs:
        cd = float(np.linalg.norm(p.left.centre - centre))
        r = pair_depth(p, images[p.left.name], images[p.right.name], cd)
        rgb = np.repeat(r["gray"][..., None], 3, axis=2)
        views.append((r["depth"], rgb, p.P1[:3, :3], p.world_to_rect()))
        points += int(r["valid"].sum())
    mesh = clean_mesh(fuse_depths(views), centre)
    return {"mesh": mesh, "points": points}
