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

from mestudio.stream.cameras import Camera

# 1.25 mm voxels, a 2.5-voxel (3.1 mm) band: fusion and meshing ~0.55x of 1.0 mm / 5 voxels at the
# same accuracy (Chamfer 0.152 vs 0.156 mm, 70k vertices instead of 114k: docs/4d.md)
VOXEL_MM = 1.25
TRUNC_VOXELS = 2.5
# the grid's hash table, allocated (and zeroed) per frame set: the head needs ~1,900 blocks of
# 10 mm; a fuller scene grows the table (slower, the same surface)
BLOCK_COUNT = 4000
HEAD_RADIUS_MM = 230.0
MATCH_SCALE = 1  # stereo matching at full resolution (2: at half, see docs/4d.md for the trade)


@dataclass
class RectifiedPair:
    left: Camera
    right: Camera
    maps: tuple  # (l1, l2, r1, r2) remap tables
    R1: np.ndarray
    P1: np.ndarray
    Q: np.ndarray
    size: tuple[int, int]
    focal: float
    baseline: float
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, a: Camera, b: Camera) -> RectifiedPair:
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


def _disparity_range(
    gl: np.ndarray, gr: np.ndarray, fb: float, centre_depth: float, box: tuple[int, int, int, int] | None = None
) -> tuple[int, int]:
    """(min, count) at the images' resolution (``fb``: focal px x baseline mm there), from a
    coarse match of the foreground at 1/4 of it: only the rows of ``box`` and its columns (with
    the right image's from the nearest disparity to its left), where the lit pixels are."""
    s = 4
    d_near = fb / max(centre_depth - HEAD_RADIUS_MM, 100.0)
    d_far = fb / (centre_depth + HEAD_RADIUS_MM)
    h, w = gl.shape
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    xr = max(0, x0 - int(np.ceil(d_near))) // s * s  # crops aligned to the 1/4 grid
    y0, x1, y1 = y0 // s * s, min(w, -(-x1 // s) * s), min(h, -(-y1 // s) * s)
    small_l = cv2.resize(gl[y0:y1, xr:x1], None, fx=1 / s, fy=1 / s, interpolation=cv2.INTER_AREA)
    small_r = cv2.resize(gr[y0:y1, xr:x1], None, fx=1 / s, fy=1 / s, interpolation=cv2.INTER_AREA)
    lo = int(d_far / s) // 16 * 16
    n = max(16, int(np.ceil((d_near / s - lo) / 16.0)) * 16)
    disp = _sgbm(lo, n, 5).compute(small_l, small_r).astype(np.float32) / 16.0
    valid = disp[(disp > lo) & (small_l > 40)]
    if valid.size < 100:
        return int(d_far) // 16 * 16, int(np.ceil((d_near - d_far) / 16)) * 16
    a, b = np.percentile(valid, [1.0, 99.0]) * s
    lo_f = int(max(0, a - 16)) // 16 * 16
    return lo_f, max(32, int(np.ceil((b + 16 - lo_f) / 16.0)) * 16)


def pair_depth(pair: RectifiedPair, img_l: np.ndarray, img_r: np.ndarray, centre_depth: float, scale: int = 1) -> dict:
    """Depth (mm, float32, 0 = none) in the rectified left camera, and its grey image, matched
    at 1/``scale`` of the resolution (the depth map then has that size: see ``scaled_K``)."""
    gl, gr = pair.rectify(img_l, img_r)
    if gl.ndim == 3:
        gl, gr = cv2.cvtColor(gl, cv2.COLOR_RGB2GRAY), cv2.cvtColor(gr, cv2.COLOR_RGB2GRAY)
    if scale > 1:
        gl = cv2.resize(gl, None, fx=1 / scale, fy=1 / scale, interpolation=cv2.INTER_AREA)
        gr = cv2.resize(gr, None, fx=1 / scale, fy=1 / scale, interpolation=cv2.INTER_AREA)
    fb = pair.focal / scale * pair.baseline
    x0, y0, x1, y1 = _foreground_box(gl)
    lo, n = _disparity_range(gl, gr, fb, centre_depth, (x0, y0, x1, y1))
    disp = _match_box(gl, gr, (x0, y0, x1, y1), lo, n)
    valid = disp > lo
    depth_box = np.zeros_like(disp)
    depth_box[valid] = fb / disp[valid]
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
    c = (world_to_cam[:3, :3] @ centre + world_to_cam[:3, 3]).astype(np.float32)
    fx, fy, cx, cy = (np.float32(K[0, 0]), np.float32(K[1, 1]), np.float32(K[0, 2]), np.float32(K[1, 2]))
    x = (xs.astype(np.float32) - cx) / fx * z - c[0]  # float32 throughout: half the memory traffic
    y = (ys.astype(np.float32) - cy) / fy * z - c[1]
    far = (x * x + y * y + (z - c[2]) ** 2) > np.float32(radius * radius)
    depth[ys[far], xs[far]] = 0


def fuse_depths(
    views: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    voxel_mm: float = VOXEL_MM,
    depth_max_mm: float = 3000.0,
    trunc_voxels: float = TRUNC_VOXELS,
) -> dict[str, Any]:
    """TSDF of ``(depth mm float32, image uint8 grey or RGB, K 3x3, world->camera 4x4)`` views ->
    ``{"vertices", "faces", "colours"}`` (marching cubes of open3d's voxel-block grid).

    The grid holds distances and weights only; the surface's vertices take their colour from the
    views afterwards (``colour_vertices``): half the integration work of a colour volume."""
    import open3d as o3d
    import open3d.core as o3c

    vbg = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight"),
        attr_dtypes=(o3c.float32, o3c.float32),
        attr_channels=((1), (1)),
        voxel_size=voxel_mm,
        block_resolution=8,
        block_count=BLOCK_COUNT,
        device=o3c.Device("CPU:0"),
    )
    for depth, _img, K, T in views:
        d = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(depth, np.float32)))
        Kt = o3c.Tensor(np.asarray(K, np.float64))
        Tt = o3c.Tensor(np.asarray(T, np.float64))
        blocks = vbg.compute_unique_block_coordinates(d, Kt, Tt, 1.0, depth_max_mm, trunc_voxels)
        vbg.integrate(blocks, d, Kt, Tt, 1.0, depth_max_mm, trunc_voxels)
    # a voxel seen by one view (weight 1) counts: the Kinect path has one view, the pairs overlap little
    m = vbg.extract_triangle_mesh(weight_threshold=0.5)
    if m.vertex.positions.shape[0] == 0:
        return {"vertices": np.zeros((0, 3), np.float32), "faces": np.zeros((0, 3), np.int32), "colours": None}
    vertices = m.vertex.positions.numpy().astype(np.float32)
    return {
        "vertices": vertices,
        "faces": m.triangle.indices.numpy().astype(np.int32),
        "colours": colour_vertices(vertices, views, voxel_mm * trunc_voxels),
    }


def colour_vertices(
    vertices: np.ndarray, views: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], near_mm: float
) -> np.ndarray:
    """(V, 3) uint8: each vertex's colour, the mean over the views that see it (its depth there
    within ``near_mm`` of the view's depth map: not hidden); grey where no view sees it."""
    total = np.zeros((len(vertices), 3), np.float32)
    count = np.zeros(len(vertices), np.float32)
    for depth, img, K, T in views:
        p = vertices @ T[:3, :3].T.astype(np.float32) + T[:3, 3].astype(np.float32)
        z = p[:, 2]
        ok = z > 1e-3
        zs = np.where(ok, z, 1.0)
        u = np.rint(K[0, 0] * p[:, 0] / zs + K[0, 2]).astype(np.int32)
        v = np.rint(K[1, 1] * p[:, 1] / zs + K[1, 2]).astype(np.int32)
        h, w = depth.shape
        ok &= (u >= 0) & (u < w) & (v >= 0) & (v < h)
        idx = np.nonzero(ok)[0]
        d = depth[v[idx], u[idx]]
        seen = idx[(d > 0) & (np.abs(d - z[idx]) < near_mm)]
        c = img[v[seen], u[seen]].astype(np.float32)
        total[seen] += c if c.ndim == 2 else c[:, None]
        count[seen] += 1
    out = np.full((len(vertices), 3), 128, np.uint8)
    hit = count > 0
    out[hit] = np.clip(total[hit] / count[hit, None] + 0.5, 0, 255).astype(np.uint8)
    return out


def largest_piece(mesh: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keep the largest connected part of the mesh (the head), drop floating bits."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    v, f = mesh["vertices"], mesh["faces"]
    if len(f) == 0:
        return mesh
    n = len(v)
    rows = np.concatenate([f[:, 0], f[:, 1]])  # two edges a triangle join all three corners
    cols = np.concatenate([f[:, 1], f[:, 2]])
    g = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    _, label = connected_components(g, directed=False)
    biggest = np.bincount(label[f[:, 0]]).argmax()
    keep_f = f[label[f[:, 0]] == biggest]
    mask = np.zeros(n, bool)  # the vertices used, in their order: a mask, not np.unique's sort
    mask[keep_f.ravel()] = True
    used = np.flatnonzero(mask)
    remap = np.full(n, -1, np.int32)
    remap[used] = np.arange(used.size, dtype=np.int32)
    out = {"vertices": v[used], "faces": remap[keep_f], "colours": None}
    if mesh.get("colours") is not None:
        out["colours"] = mesh["colours"][used]
    return out


def scaled_K(K: np.ndarray, scale: int) -> np.ndarray:
    """The intrinsics of an image resized to 1/``scale`` (pixel centres stay pixel centres)."""
    if scale == 1:
        return K
    out = K.astype(np.float64).copy()
    out[:2, :2] /= scale
    out[:2, 2] = (out[:2, 2] + 0.5) / scale - 0.5
    return out


def shifted_K(K: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """The intrinsics of the image's crop starting at column ``x0``, row ``y0``."""
    out = K.astype(np.float64).copy()
    out[0, 2] -= x0
    out[1, 2] -= y0
    return out


def stereo_frame(
    pairs: list[RectifiedPair],
    images: dict[str, np.ndarray],
    centre: np.ndarray,
    match_scale: int = MATCH_SCALE,
) -> dict:
    """One frame set's mesh from the pairs (images by camera name)."""
    views, points = [], 0
    for p in pairs:
        cd = float(np.linalg.norm(p.left.centre - centre))
        r = pair_depth(p, images[p.left.name], images[p.right.name], cd, match_scale)
        T = p.world_to_rect()
        K = scaled_K(p.P1[:3, :3], match_scale)
        # depth exists only inside the matched box: the view is that crop (the TSDF's block search
        # walks every pixel given; a voxel seen outside the crop would have met depth 0 anyway)
        x0, y0, x1, y1 = r["box"]
        box, Kb = np.ascontiguousarray(r["depth"][y0:y1, x0:x1]), shifted_K(K, x0, y0)
        crop_depth(box, Kb, T, centre, HEAD_RADIUS_MM)
        views.append((box, r["gray"][y0:y1, x0:x1], Kb, T))
        points += int(np.count_nonzero(box))
    return {"mesh": largest_piece(fuse_depths(views)), "points": points}
