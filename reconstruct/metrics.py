"""Accuracy of a reconstructed mesh against the true one, on the face region (mm).

* accuracy: distance from each reconstructed vertex whose nearest true point is on the face to
  the true surface;
* completeness: distance from each true face vertex to the reconstructed surface, and the share
  within 2 mm (``completeness_2mm``);
* ``chamfer_mean_mm``: the mean of the two directed means (symmetric Chamfer distance);
  ``chamfer_p95_mm``: the 95th percentile of both directions' distances together.
Distances are exact point-to-triangle distances (open3d's RaycastingScene).
"""

from __future__ import annotations

import numpy as np


def _scene(vertices: np.ndarray, faces: np.ndarray):
    import open3d as o3d

    sc = o3d.t.geometry.RaycastingScene()
    sc.add_triangles(
        o3d.core.Tensor(np.ascontiguousarray(vertices, np.float32)),
        o3d.core.Tensor(np.ascontiguousarray(faces, np.uint32)),
    )
    return sc


def compare(rec_v: np.ndarray, rec_f: np.ndarray, true_v: np.ndarray, true_f: np.ndarray, face: np.ndarray) -> dict:
    """Figures for one mesh (see the module docstring); ``face`` flags the true face vertices."""
    import open3d as o3d

    if len(rec_v) == 0 or len(rec_f) == 0:
        return {"chamfer_mean_mm": None, "chamfer_p95_mm": None, "completeness_2mm": 0.0, "accuracy_mean_mm": None}
    truth = _scene(true_v, true_f)
    q = o3d.core.Tensor(np.ascontiguousarray(rec_v, np.float32))
    closest = truth.compute_closest_points(q)
    d_rt = np.linalg.norm(closest["points"].numpy() - rec_v, axis=1)
    tri_face = face[true_f].all(axis=1)
    on_face = tri_face[closest["primitive_ids"].numpy()]
    d_rt = d_rt[on_face]
    rec = _scene(rec_v, rec_f)
    d_tr = rec.compute_distance(o3d.core.Tensor(np.ascontiguousarray(true_v[face], np.float32))).numpy()
    both = np.concatenate([d_rt, d_tr])
    return {
        "chamfer_mean_mm": round(float((d_rt.mean() if d_rt.size else np.inf) / 2 + d_tr.mean() / 2), 4),
        "chamfer_p95_mm": round(float(np.percentile(both, 95)), 4),
        "completeness_2mm": round(float((d_tr < 2.0).mean()), 4),
        "accuracy_mean_mm": round(float(d_rt.mean()), 4) if d_rt.size else None,
    }
