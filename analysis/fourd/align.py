"""3D landmarks on each mesh, rigid alignment of a sequence to its reference, and the face crop.

Landmarks (``landmarks=``):
- ``"vertices"``: the meshes share one topology (the face rig's ground truth, registered
  reconstructions): the landmarks are a fixed set of the reference's vertices spread over the
  face (farthest-point sampling inside the crop), read at the same indices on every frame.
- ``"mediapipe"``: any textured face mesh: the frontal texture render's 478 MediaPipe face-mesh
  landmarks, lifted onto the surface through the render's depth buffer (one 3D point each).
- ``"icp"``: any mesh, textured or not: open3d's point-to-plane ICP of the frame onto the
  reference's face region (coarse to fine, from the previous frame's pose), so the landmarks are
  nearest-surface points rather than named ones.
- ``"auto"``: ``"vertices"`` when a mesh has the reference's topology (same vertices and
  triangles), else ``"mediapipe"`` when it is textured and MediaPipe finds the face, else ``"icp"``.
Alignment: Kabsch (rotation + translation, no scale: meshes are in mm) of each frame's landmarks
onto the reference's. The reference is taken as already upright and frontal (the rig's head
coordinates). Views want the face looking along +z with y up; meshes in a camera frame (OpenCV:
y down, z away from the camera, as the face rig and the reconstruction write them) are turned
by 180 degrees about x first. Which one a sequence uses is read off its reference: the extreme
depth nearest the middle of the face is the nose tip, so the camera is on that side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mestudio.analysis.fourd.errors import MeshError
from mestudio.analysis.fourd.mesh import Mesh

LANDMARKERS = ("auto", "vertices", "mediapipe", "icp")


def kabsch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) minimising sum |R src_i + t - dst_i|^2 over proper rotations (det R = +1)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ok = np.isfinite(src).all(axis=1) & np.isfinite(dst).all(axis=1)
    if ok.sum() < 3:
        raise MeshError(f"rigid alignment needs 3 or more landmarks seen on both meshes, got {int(ok.sum())}")
    s, d = src[ok], dst[ok]
    ms, md = s.mean(axis=0), d.mean(axis=0)
    u, _, vt = np.linalg.svd((s - ms).T @ (d - md))
    sign = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    r = vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
    return r, md - r @ ms


def farthest_points(points: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Indices of ``count`` points spread over ``points`` (greedy farthest-point sampling)."""
    pts = np.asarray(points, np.float64)
    count = min(count, len(pts))
    idx = [int(np.random.default_rng(seed).integers(len(pts)))]
    dist = np.linalg.norm(pts - pts[idx[0]], axis=1)
    for _ in range(count - 1):
        idx.append(int(dist.argmax()))
        dist = np.minimum(dist, np.linalg.norm(pts - pts[idx[-1]], axis=1))
    return np.array(idx)


def face_center(mesh: Mesh, radius_mm: float) -> np.ndarray:
    """The nose tip (most +z vertex near the middle) moved back by half the crop radius: the
    centre of the sphere that holds the face."""
    v = mesh.vertices
    mid = np.median(v[:, :2], axis=0)
    near = np.linalg.norm(v[:, :2] - mid, axis=1) < radius_mm * 0.6
    tip = v[near][v[near, 2].argmax()] if near.any() else v[v[:, 2].argmax()]
    return tip - np.array([0.0, 0.0, radius_mm * 0.5])


def crop_face(mesh: Mesh, center: np.ndarray, radius_mm: float) -> Mesh:
    """The mesh without the vertices (and their triangles) farther than ``radius_mm`` from ``center``."""
    keep = np.linalg.norm(mesh.vertices - center, axis=1) <= radius_mm
    if keep.sum() < 3:
        raise MeshError(f"{mesh.name}: no face left inside the {radius_mm} mm crop; is the mesh in mm?")
    return mesh.keep_vertices(keep)


def mediapipe_landmarks_3d(mesh: Mesh, size: int = 256) -> np.ndarray:
    """(478, 3) points: MediaPipe face-mesh landmarks of the frontal texture render lifted onto
    the surface; NaN rows where the render shows no surface."""
    from mestudio.analysis.fourd.views import ortho_frame, render_arrays

    if mesh.colors is None:
        raise MeshError(f"{mesh.name}: 'mediapipe' landmarks need a textured (vertex-coloured) mesh")
    frame = ortho_frame(mesh.vertices, size)
    depth, rgb = render_arrays(mesh, np.eye(3), frame, size)
    img = (np.nan_to_num(rgb) * 255).clip(0, 255).astype(np.uint8)
    try:
        import mediapipe as mp
    except ImportError as e:
        raise MeshError(f"'mediapipe' landmarks need the mediapipe package ({e}); use landmarks='vertices'") from None
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as fm:
        res = fm.process(np.ascontiguousarray(img))  # MediaPipe wants RGB
    if not res.multi_face_landmarks:
        raise MeshError(f"{mesh.name}: MediaPipe found no face on the frontal render; use landmarks='vertices'")
    pts = np.array([(p.x * size, p.y * size) for p in res.multi_face_landmarks[0].landmark])
    cols = np.clip(pts[:, 0].astype(int), 0, size - 1)
    rows = np.clip(pts[:, 1].astype(int), 0, size - 1)
    z = depth[rows, cols]
    cx, cy, mmpp = frame
    x = (pts[:, 0] - size / 2) * mmpp + cx
    y = cy - (pts[:, 1] - size / 2) * mmpp
    return np.column_stack([x, y, z])


CAMERA_TO_VIEWER = np.diag([1.0, -1.0, -1.0])  # 180 degrees about x: y down, z away -> y up, z towards


def faces_away(mesh: Mesh) -> bool:
    """True when the face looks along -z (a camera frame). The nose tip is the depth extreme in
    the middle of the face; the other extreme lies on the rim (or the skull behind): whichever
    end of the depth range sits nearer the face's middle faces the camera. Each end is the 0.5 %
    of vertices beyond its percentile, judged by their median distance, so that a few stray
    vertices of a reconstruction do not decide."""
    v = mesh.vertices
    mid = np.median(v[:, :2], axis=0)
    radial = np.linalg.norm(v[:, :2] - mid, axis=1)
    lo, hi = np.percentile(v[:, 2], [0.5, 99.5])
    near_lo = np.median(radial[v[:, 2] <= lo])
    near_hi = np.median(radial[v[:, 2] >= hi])
    return bool(near_lo < near_hi)


class SequenceAligner:
    """Aligns meshes one at a time onto a reference (streaming: a session's meshes need not fit
    in memory). ``align(mesh)`` -> (the mesh moved onto the reference and cropped, RMS landmark
    residual in mm)."""

    def __init__(self, reference: Mesh, landmarks: str = "auto", radius_mm: float = 100.0, count: int = 68) -> None:
        if landmarks not in LANDMARKERS:
            raise MeshError(f"unknown landmarks {landmarks!r}; use one of {LANDMARKERS}")
        # every mesh of the sequence is read in the reference's frame
        self.flip = faces_away(reference)
        reference = self._viewer(reference)
        self.reference, self.radius_mm, self.mode = reference, radius_mm, landmarks
        self.center = face_center(reference, radius_mm)
        inside = np.flatnonzero(np.linalg.norm(reference.vertices - self.center, axis=1) <= radius_mm)
        self.index = inside[farthest_points(reference.vertices[inside], count)]
        self._ref: dict[str, np.ndarray] = {"vertices": reference.vertices[self.index]}
        self.used: set[str] = set()

    def _same_topology(self, mesh: Mesh) -> bool:
        # one vertex count is not one topology: reconstructions of a repeating loop share counts
        ref = self.reference
        return len(mesh.vertices) == len(ref.vertices) and np.array_equal(mesh.triangles, ref.triangles)

    def _method(self, mesh: Mesh) -> str:
        same = self._same_topology(mesh)
        if self.mode == "vertices" and not same:
            raise MeshError(
                f"{mesh.name}: not the topology of the reference {self.reference.name} ({len(mesh.vertices)} "
                f"vertices, {len(self.reference.vertices)} there); 'vertices' landmarks need one topology "
                "(use --landmarks icp or mediapipe)"
            )
        if self.mode == "auto-icp":
            return "vertices" if same else "icp"
        if self.mode != "auto":
            return self.mode
        if same:
            return "vertices"
        return "mediapipe" if mesh.colors is not None and self.reference.colors is not None else "icp"

    def _icp(self, mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
        """(R, t) taking ``mesh`` onto the reference by point-to-plane ICP over its face region."""
        import open3d as o3d

        reg = o3d.pipelines.registration
        ref = self.reference.vertices[np.linalg.norm(self.reference.vertices - self.center, axis=1) <= self.radius_mm]
        # 1.5 mm voxels: dense reconstructions (tens of thousands of vertices) align in a fraction
        src = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(mesh.vertices)).voxel_down_sample(1.5)
        dst = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(ref)).voxel_down_sample(1.5)
        # point-to-plane: point-to-point ICP slides along a smooth face and stops millimetres off
        dst.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=8.0, max_nn=30))
        dst.orient_normals_towards_camera_location(np.array([0.0, 0.0, 1000.0]))  # the viewer is at +z
        stop = reg.ICPConvergenceCriteria(relative_fitness=1e-9, relative_rmse=1e-9, max_iteration=100)
        init = getattr(self, "_last_icp", np.eye(4))
        for dist in (20.0, 8.0, 3.0, 1.5):  # coarse to fine correspondence distance, mm
            init = reg.registration_icp(
                src, dst, dist, init, reg.TransformationEstimationPointToPlane(), stop
            ).transformation
        self._last_icp = init
        return init[:3, :3].copy(), init[:3, 3].copy()

    def _viewer(self, mesh: Mesh) -> Mesh:
        return mesh.transformed(CAMERA_TO_VIEWER, np.zeros(3)) if self.flip else mesh

    def align(self, mesh: Mesh) -> tuple[Mesh, float]:
        return self._align(self._viewer(mesh))

    def _align(self, mesh: Mesh) -> tuple[Mesh, float]:
        """``mesh`` already in the viewer frame."""
        method = self._method(mesh)
        if method == "icp":
            self.used.add(method)
            r, t = self._icp(mesh)
            moved = mesh.transformed(r, t)
            # residual: each reference landmark to the nearest aligned vertex
            from scipy.spatial import cKDTree

            d, _ = cKDTree(moved.vertices).query(self._ref["vertices"])
            return crop_face(moved, self.center, self.radius_mm), float(np.sqrt(np.mean(d**2)))
        if method == "vertices":
            lm = mesh.vertices[self.index]
        else:
            try:
                if "mediapipe" not in self._ref:
                    self._ref["mediapipe"] = mediapipe_landmarks_3d(self.reference)
                lm = mediapipe_landmarks_3d(mesh)
            except MeshError:
                if self.mode != "auto":
                    raise
                self.mode = "auto-icp"  # no face on the texture (e.g. mono reconstructions): ICP from now on
                return self._align(mesh)
        self.used.add(method)
        ref = self._ref[method]
        r, t = kabsch(lm, ref)
        moved = lm @ r.T + t
        ok = np.isfinite(moved).all(axis=1) & np.isfinite(ref).all(axis=1)
        rms = float(np.sqrt(np.mean(np.sum((moved[ok] - ref[ok]) ** 2, axis=1))))
        return crop_face(mesh.transformed(r, t), self.center, self.radius_mm), rms

    def report(self, residuals: list[float]) -> dict:
        return {
            "landmarks": "+".join(sorted(self.used)) or self.mode,
            "input_frame": "camera (y down, z away): turned 180 degrees about x" if self.flip else "y up, z towards",
            "rms_residual_mm": residuals,
            "crop_center_mm": self.center.round(3).tolist(),
            "crop_radius_mm": self.radius_mm,
        }


def align_sequence(
    meshes: Sequence[Mesh], landmarks: str = "auto", radius_mm: float = 100.0, count: int = 68
) -> tuple[list[Mesh], dict]:
    """Every mesh moved rigidly onto ``meshes[0]`` by its landmarks, then cropped to the face.

    Returns the aligned, cropped meshes and a report: landmark method, per-frame RMS landmark
    residual (mm) after alignment, the crop centre and radius.
    """
    if not meshes:
        raise MeshError("no meshes to align")
    aligner = SequenceAligner(meshes[0], landmarks, radius_mm, count)
    out, residuals = [], []
    for m in meshes:
        moved, rms = aligner.align(m)
        out.append(moved)
        residuals.append(rms)
    return out, aligner.report(residuals)
