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


@pytest.mark.slow
def test_views_of_spotted_intervals_through_the_reconstruction_index(tmp_path):
    from mestudio.analysis.training.sources import Source, load_source

    session = tmp_path / "session"
    rec = session / "reconstruction" / "stereo"
    rec.mkdir(parents=True)
    t0 = 1_000_000_000_000
    (session / "manifest.json").write_text(
        json.dumps({"format": "mestudio-session", "t0_host_ns": t0, "participant": "P07"})
    )
    events = [
        {"type": "spot", "kind": "micro", "onset_s": 0.10, "offset_s": 0.25, "aus": [12], "emotions": ["Positive"]},
        {"type": "event", "kind": "micro", "onset_s": t0 / 1e9 + 0.30, "offset_s": t0 / 1e9 + 0.45, "aus": "1+2"},
        {"type": "spot", "kind": "micro", "onset_s": 5.0, "offset_s": 6.0},  # no meshes then
        {"type": "annotation", "kind": "micro", "onset_seq": 3, "offset_seq": 9},  # another stream's numbers
    ]
    (session / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    rng = np.random.default_rng(2)
    meshes, _ = clip_meshes(FaceRig(Identity.random(rng), step_mm=5.0), (12,), rng, frames=10)
    rows = ["set,session_time_s,file,vertices"]
    for k, m in enumerate(meshes):
        write_mesh(rec / f"{k:06d}.ply", m)
        rows.append(f"{k},{0.05 * k:.3f},{k:06d}.ply,{len(m.vertices)}")
    (rec / "index.csv").write_text("\n".join(rows) + "\n")
    r = mestudio("views", str(session), "--spotted", "--size", "24", "--json")
    assert r.returncode == 3, r.stderr  # two intervals left out, each named
    assert "5.000-6.000 s" in r.stderr and "frame numbers" in r.stderr
    out = json.loads(r.stdout)
    assert [c["clip"] for c in out["clips"]] == ["P07/event_001", "P07/event_002"]
    views = session / "reconstruction" / "views"
    got = sorted(f.name for f in (views / "P07" / "event_001" / "front" / "dpi").glob("*.png"))
    assert got == ["000002.png", "000003.png", "000004.png", "000005.png"]
    # the label book written beside the views reads back as a 4D dataset
    book, clips, missing = load_source(Source("4dme4d", labels=str(views / "labelbook.csv"), clips=str(views)))
    assert [s.clip for s in book] == ["event_001", "event_002"] and not missing
    assert book[0].emotions == ("Positive",) and {a.number for a in book[1].aus} == {1, 2}
    assert clips[0].shape == (3, 3, 4, 24, 24) and clips[1].shape == (3, 3, 4, 24, 24)
