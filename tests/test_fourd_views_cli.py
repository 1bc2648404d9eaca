"""`mestudio views` through the real command line, on a session folder holding ground-truth meshes."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from mestudio.analysis.fourd import write_mesh
from mestudio.analysis.fourd.synthetic import FaceRig, Identity, clip_meshes
from tests.conftest import mestudio


def make_session(tmp_path, frames=8):
    rng = np.random.default_rng(5)
    rig = FaceRig(Identity.random(rng))
    meshes, _ = clip_meshes(rig, (1, 2), rng, frames=frames)
    session = tmp_path / "session"
    (session / "ground_truth").mkdir(parents=True)
    (session / "ground_truth" / "face_script.json").write_text("{}")  # the rig's other files stay beside
    for i, m in enumerate(meshes):
        write_mesh(session / "ground_truth" / f"{i + 100:06d}.ply", m)
    return session


@pytest.mark.slow
def test_views_of_a_ground_truth_session(tmp_path):
    session = make_session(tmp_path)
    r = mestudio("views", str(session), "--size", "32", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["frames"] == 8 and out["skipped"] == 0
    views = session / "reconstruction" / "views"
    for p in ("left", "front", "right"):
        for d in ("dpi", "edpi", "texture"):
            files = sorted((views / p / d).glob("*.png"))
            assert [f.name for f in files] == [f"{n:06d}.png" for n in range(100, 108)]
            img = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)  # read back by OpenCV
            assert img.shape == (32, 32) and img.dtype == np.uint8 and (img > 0).mean() > 0.2
    manifest = json.loads((views / "views.json").read_text())
    assert manifest["clips"][0]["spec"]["profiles"]["front"]["yaw_deg"] == 0.0


@pytest.mark.slow
def test_views_per_labelled_clip_and_a_corrupt_mesh_is_skipped_and_counted(tmp_path):
    session = make_session(tmp_path)
    (session / "ground_truth" / "000103.ply").write_bytes(b"ply\ngarbage")
    book = tmp_path / "book.csv"
    pd.DataFrame(
        {
            "Subject": ["p01", "p01"],
            "Clip": ["c1", "c2"],
            "Onset": [100, 104],
            "Apex": [101, 105],
            "Offset": [103, 107],
            "AUs": ["1+2", "12"],
            "Emotion": ["S", "P"],
        }
    ).to_csv(book, index=False)
    r = mestudio("views", str(session), "--clips", str(book), "--size", "24", "--json")
    assert r.returncode == 3, r.stderr  # partial: one mesh skipped, the rest written
    assert "000103.ply" in r.stderr
    out = json.loads(r.stdout)
    assert out["frames"] == 7 and out["skipped"] == 1
    c1 = session / "reconstruction" / "views" / "p01" / "c1" / "front" / "dpi"
    c2 = session / "reconstruction" / "views" / "p01" / "c2" / "right" / "texture"
    assert [f.name for f in sorted(c1.glob("*.png"))] == ["000100.png", "000101.png", "000102.png"]
    assert len(list(c2.glob("*.png"))) == 4


def test_views_errors_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    r = mestudio("views", str(tmp_path / "empty"))
    assert r.returncode == 2
    assert "no meshes" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = mestudio("views", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such session" in r.stderr


def test_mesh_folder_choice(tmp_path):
    from mestudio.analysis.fourd import MeshError
    from mestudio.analysis.fourd.sessions import session_mesh_dir

    mesh = tmp_path / "m.ply"
    rng = np.random.default_rng(0)
    write_mesh(mesh, clip_meshes(FaceRig(Identity.random(rng), step_mm=8.0), (), rng, frames=1)[0][0])
    for d in ("ground_truth/face3d/mesh", "reconstruction/stereo"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "000001.ply").write_bytes(mesh.read_bytes())
    assert session_mesh_dir(tmp_path) == tmp_path / "reconstruction" / "stereo"  # the reconstruction first
    assert session_mesh_dir(tmp_path, "ground_truth/face3d/mesh") == tmp_path / "ground_truth" / "face3d" / "mesh"
    (tmp_path / "reconstruction" / "rgbd").mkdir()
    (tmp_path / "reconstruction" / "rgbd" / "000001.ply").write_bytes(mesh.read_bytes())
    with pytest.raises(MeshError, match="--mesh-dir"):
        session_mesh_dir(tmp_path)
