"""The 4D views on the face rig's true meshes (capture/face/mesh3d.py, a mesh in mm of a real
photographed face, in the rig's camera frame: y down, z away): session layout, frame detection,
and MediaPipe landmarks lifted onto the textured mesh recovering a known head motion."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import mestudio

mesh3d = pytest.importorskip("mestudio.capture.face.mesh3d")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rig():
    from mestudio.capture.face.script import default_script

    return mesh3d.FaceRig3D(default_script(20.0, 0), seed=0)


def test_views_of_a_face_rig_session(rig, tmp_path):
    folder = tmp_path / "ground_truth" / "face3d" / "mesh"
    folder.mkdir(parents=True)
    for t in (5.30, 5.45, 5.60):  # the script's AU1+2 micro-expression
        mesh3d.write_mesh_ply(folder / f"t{int(t * 1e6):08d}.ply", rig.mesh_at(t))
    r = mestudio("views", str(tmp_path), "--size", "32", "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    clip = out["clips"][0]
    assert out["frames"] == 3 and out["meshes"].endswith("face3d/mesh")
    assert clip["spec"]["profiles"]["front"]["mm_per_pixel"] > 0
    # the rig's head drift is rigid and the landmarks are vertices: alignment is near exact
    assert clip["max_rms_residual_mm"] < 0.5
    manifest = json.loads((tmp_path / "reconstruction" / "views" / "views.json").read_text())
    assert manifest["frames"] == 3
    import cv2

    front = cv2.imread(str(tmp_path / "reconstruction/views/front/dpi/5300000.png"), cv2.IMREAD_GRAYSCALE)
    assert front is not None and (front > 0).mean() > 0.3
    # the nose (nearest point) is in the middle of the front view, not at the rim: frame detected
    r0, c0 = np.unravel_index(int(front.argmax()), front.shape)
    assert abs(r0 - 16) < 8 and abs(c0 - 16) < 6


def test_mediapipe_landmarks_recover_a_head_turn(rig):
    from mestudio.analysis.fourd import Mesh, kabsch
    from mestudio.analysis.fourd.align import CAMERA_TO_VIEWER, mediapipe_landmarks_3d
    from mestudio.analysis.fourd.views import yaw_matrix

    m = rig.mesh_at(0.0)
    mesh = Mesh(m.vertices, m.faces, m.colours / 255.0).transformed(CAMERA_TO_VIEWER, np.zeros(3))
    moved = mesh.transformed(yaw_matrix(6.0), np.array([3.0, -2.0, 5.0]))
    r, t = kabsch(mediapipe_landmarks_3d(moved), mediapipe_landmarks_3d(mesh))
    err = np.linalg.norm(moved.vertices @ r.T + t - mesh.vertices, axis=1)
    assert np.median(err) < 1.5  # mm, over the whole head, from 478 landmarks lifted off a render
