"""3D landmarks on each mesh, rigid alignment of a sequence to its reference, and the face crop.

Landmarks (``landmarks=``):
- ``"vertices"``: the meshes share one topology (the face rig's ground truth, registered
  reconstructions): the landmarks are a fixed set of the reference's vertices spread over the
  face (farthest-point sampling inside the crop), read at the same indices on every frame.
- ``"mediapipe"``: any textured face mesh: the frontal texture render's 478 MediaPipe face-mesh
  landmarks, lifted onto the surface through the render's depth buffer (one 3D point each).
- ``"auto"``: ``"vertices"`` when every mesh has the reference's vertex count, else ``"mediapipe"``.
Alignment: Kabsch (rotation + translation, no scale: meshes are in mm) of each frame's landmarks
onto the reference's. The reference is taken as already upright and frontal (the rig's head
coordinates); the face looks along +z with y up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mestudio.analysis.fourd.errors import MeshError
from mestudio.analysis.fourd.mesh import Mesh

LANDMARKERS = ("auto", "vertices", "mediapipe")


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


def align_sequence(
    meshes: Sequence[Mesh], landmarks: str = "auto", radius_mm: float = 100.0, count: int = 68
) -> tuple[list[Mesh], dict]:
    """Every mesh moved rigidly onto ``meshes[0]`` by its landmarks, then cropped to the face.

    Returns the aligned, cropped meshes and a report: landmark method, per-frame RMS landmark
    residual (mm) after alignment, the crop centre and radius.
    """
    if not meshes:
        raise MeshError("no meshes to align")
    if landmarks not in LANDMARKERS:
        raise MeshError(f"unknown landmarks {landmarks!r}; use one of {LANDMARKERS}")
    ref = meshes[0]
    if landmarks == "auto":
        same = all(len(m.vertices) == len(ref.vertices) for m in meshes)
        landmarks = "vertices" if same else "mediapipe"
    center = face_center(ref, radius_mm)
    if landmarks == "vertices":
        inside = np.flatnonzero(np.linalg.norm(ref.vertices - center, axis=1) <= radius_mm)
        idx = inside[farthest_points(ref.vertices[inside], count)]
        for m in meshes:
            if len(m.vertices) != len(ref.vertices):
                raise MeshError(
                    f"{m.name}: {len(m.vertices)} vertices, the reference {ref.name} has {len(ref.vertices)}; "
                    "'vertices' landmarks need one topology (use landmarks='mediapipe')"
                )
        marks = [m.vertices[idx] for m in meshes]
    else:
        marks = [mediapipe_landmarks_3d(m) for m in meshes]
    out, residuals = [], []
    for m, lm in zip(meshes, marks):
        r, t = kabsch(lm, marks[0])
        moved = lm @ r.T + t
        ok = np.isfinite(moved).all(axis=1) & np.isfinite(marks[0]).all(axis=1)
        residuals.append(float(np.sqrt(np.mean(np.sum((moved[ok] - marks[0][ok]) ** 2, axis=1)))))
        out.append(crop_face(m.transformed(r, t), center, radius_mm))
    report = {
        "landmarks": landmarks,
        "landmark_count": int(len(marks[0])),
        "rms_residual_mm": residuals,
        "crop_center_mm": center.round(3).tolist(),
        "crop_radius_mm": radius_mm,
    }
    return out, report
