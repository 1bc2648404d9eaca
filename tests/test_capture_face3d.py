"""The 3D face rig: a mesh in millimetres whose AUs are muscle fields, written as PLY ground truth."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from mestudio.capture.face.mesh3d import FaceRig3D, face_mesh_at, landmarks3d, neutral_mesh, write_mesh_ply
from mestudio.capture.face.script import FaceEvent, FaceScript
from mestudio.stream.ply import PLYError, read_ply


def _nearest(mesh, lm_index: int) -> int:
    """The mesh vertex under a MediaPipe landmark (by its image position)."""
    x, y = landmarks3d()[lm_index, :2]
    d = np.hypot(mesh.uv[:, 0] - x, mesh.uv[:, 1] - y)
    return int(np.argmin(d))


def test_neutral_face_is_a_head_sized_surface_facing_the_frontal_camera():
    m = neutral_mesh()
    assert len(m.vertices) > 30_000 and m.faces.max() < len(m.vertices)
    # interocular distance of an adult: 55-70 mm (irises 468/473)
    eyes = m.vertices[[_nearest(m, 468), _nearest(m, 473)]]
    assert 55 < np.linalg.norm(eyes[0] - eyes[1]) < 70
    nose = m.vertices[_nearest(m, 4)]  # pronasale
    face = m.vertices[m.face_region]
    assert nose[2] - face[:, 2].min() < 3.0 and nose[2] < np.percentile(face[:, 2], 5)  # the nose sticks out
    a, b, c = (m.vertices[m.faces[:, i]] for i in range(3))
    assert (np.cross(b - a, c - a)[:, 2] < 0).mean() > 0.99  # normals towards -Z
    width = m.vertices[:, 0].max() - m.vertices[:, 0].min()
    assert 150 < width < 260


# AU -> (landmark, direction its skin moves in the rig frame: Y down, X the person's left)
MOVES = {
    1: (107, (0, -1, 0)),
    4: (107, (1, 1, 0)),  # person's right inner brow: towards the midline (+X) and down
    12: (61, (-1, -1, 0)),  # right mouth corner: out (-X) and up
    15: (61, (0, 1, 0)),
    17: (152, (0, -1, 0)),
    45: (159, (0, 1, 0)),
}


@pytest.mark.parametrize("au", sorted(MOVES))
def test_each_au_moves_its_region_the_way_facs_says(au):
    lm, direction = MOVES[au]
    script = FaceScript([FaceEvent("macro", [au], 1.0, 1.5, 2.0, 1.0)], 3.0)
    rig = FaceRig3D(script, drift=False)
    i = _nearest(rig.neutral, lm)
    d = rig.mesh_at(1.5).vertices - rig.neutral.vertices
    along = float(d[i] @ (np.asarray(direction) / np.linalg.norm(direction)))
    assert along > 0.8, (au, d[i])
    assert np.abs(rig.mesh_at(0.5).vertices - rig.neutral.vertices).max() == 0  # neutral before onset
    # a region moves, not a landmark: the skin 3 mm around moves nearly as much
    near = np.linalg.norm(rig.neutral.vertices - rig.neutral.vertices[i], axis=1) < 3.0
    assert np.linalg.norm(d[near], axis=1).min() > 0.5 * np.linalg.norm(d[i])
    # and the back of the head (far from every muscle) stays put
    assert np.linalg.norm(d[rig.neutral.vertices[:, 2] > 100], axis=1).max() < 1e-3


def test_head_movement_is_rigid():
    script = FaceScript([FaceEvent("head", [], 1.0, 1.5, 2.0, params={"dx_px": 8, "dy_px": -4, "roll_deg": 3})], 3)
    rig = FaceRig3D(script, seed=3)
    a, b = rig.mesh_at(0.2).vertices, rig.mesh_at(1.5).vertices
    assert np.abs(a - b).max() > 3.0
    pick = np.random.default_rng(0).integers(0, len(a), (500, 2))
    da = np.linalg.norm(a[pick[:, 0]] - a[pick[:, 1]], axis=1)
    db = np.linalg.norm(b[pick[:, 0]] - b[pick[:, 1]], axis=1)
    assert np.abs(da - db).max() < 1e-3


def test_true_mesh_round_trips_through_ply_read_by_open3d(tmp_path):
    v, f, c = face_mesh_at(2.0, seed=1)
    m = FaceRig3D(__import__("mestudio.capture.face.script", fromlist=["x"]).default_script(3600, 1), 1).mesh_at(2.0)
    assert np.array_equal(v, m.vertices)
    p = write_mesh_ply(tmp_path / "gt" / "000000.ply", m)
    o = o3d.io.read_triangle_mesh(str(p))
    assert np.allclose(np.asarray(o.vertices), v) and np.array_equal(np.asarray(o.triangles), f)
    assert np.allclose(np.asarray(o.vertex_colors) * 255, c, atol=0.6)
    back = read_ply(p)
    assert np.array_equal(back["face_region"].astype(bool), m.face_region)
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat ascii 1.0\nend_header\n")
    with pytest.raises(PLYError, match="binary_little_endian"):
        read_ply(tmp_path / "bad.ply")
