"""Calibration and reconstruction end to end on small synthetic 3D rig sessions, checked against
the rig's ground truth (true cameras, true meshes) read back from the session folder."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import open3d as o3d
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

RIG = """
[session]
name = "{name}"
duration_s = {duration}
[[devices]]
name = "basler"
kind = "synthetic-array"
count = 6
width = 400
height = 300
fps = 5
source = "{source}"
loop_s = {loop}
{kinect}
[[devices]]
name = "mic"
kind = "synthetic-audio"
[sync]
enabled = true
"""
KINECT = """
[[devices]]
name = "kinect"
kind = "synthetic-rgbd"
fps = 5
source = "{source}"
loop_s = {loop}
"""


def _mestudio(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "mestudio", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def _session(tmp, name, source, loop, duration, kinect):
    cfg = tmp / f"{name}.toml"
    k = KINECT.format(source=source, loop=loop) if kinect else ""
    cfg.write_text(RIG.format(name=name, duration=duration, source=source, loop=loop, kinect=k))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "cache")}
    r = _mestudio("run", cfg, "--out", tmp / name, "--quiet", "--headless", env=env)
    (manifest,) = (tmp / name).glob("*/manifest.json")
    root = manifest.parent
    # the recording and its frame sets are what this stage reads; a loaded machine may make the
    # run report a late heartbeat, which loses nothing
    assert (root / "sync" / "framesets.csv").is_file(), r.stdout[-2000:] + r.stderr[-2000:]
    return root


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("4d")
    # the array only: the Kinect's board calibration is measured at full size (bench calibrate,
    # docs/4d.md) and its small-board corners by test_calibrate_corners.py
    cal = _session(tmp, "cal", "charuco", 4.8, 5.3, kinect=False)  # 22 poses, about one frame each
    face = _session(tmp, "face", "face3d", 0.4, 1.5, kinect=True)
    return cal, face


def test_calibrate_finds_the_true_cameras(sessions):
    cal, _ = sessions
    r = _mestudio("calibrate", cal, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["reprojection_rms_px"] < 0.3
    assert set(rep["cameras"]) == {f"basler-{i}" for i in range(6)}
    v = rep["vs_truth"]["cameras"]
    # 400x300 views (f = 900 px): a principal point known to a few pixels tilts a camera by a few
    # tenths of a degree; the full-size rig reaches 0.06 degrees (docs/4d.md)
    for cam in (f"basler-{i}" for i in range(6)):
        assert v[cam]["rotation_deg"] < 0.8 and v[cam]["translation_mm"] < 4.0 and v[cam]["focal_pct"] < 0.5, v
    assert v["basler-0"]["rotation_deg"] + v["basler-1"]["rotation_deg"] > 0  # measured, not copied
    rig = json.loads((cal / "calibration" / "rig.json").read_text())
    assert rig["reference"] in rig["cameras"]
    import cv2

    fs = cv2.FileStorage(str(cal / "calibration" / "rig.yaml"), cv2.FILE_STORAGE_READ)
    assert np.allclose(fs.getNode("K_basler_5").mat(), rig["cameras"]["basler-5"]["K"])


def test_calibrate_errors_name_the_camera(sessions):
    cal, face = sessions
    r = _mestudio("calibrate", face)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "camera basler-0: no ChArUco board found" in r.stderr or "camera basler-1: no ChArUco" in r.stderr
    from mestudio.reconstruct.calibrate import calibrate_session
    from mestudio.reconstruct.errors import CalibrationError

    # three poses asked for: a camera sees the board in at most three (fewer where a pose is out of its view)
    with pytest.raises(CalibrationError, match=r"camera basler-\d: the board was found in [0-3] distinct poses"):
        calibrate_session(cal, max_views=3)


def test_reconstruct_meshes_match_the_true_face(sessions):
    cal, face = sessions
    rig = cal / "calibration" / "rig.json"
    r = _mestudio("reconstruct", face, "--calibration", rig, "--workers", "2", "--method", "stereo", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)["methods"]["stereo"]
    assert st["frames"] >= 3
    # small 400x300 views (f = 900 px, 1 px ~ 1.1 mm on the face): far looser than the full-size
    # figures of `mestudio bench reconstruct`, still millimetres
    assert st["chamfer_mean_mm"] < 3.0 and st["completeness_2mm"] > 0.6 and st["accuracy_mean_mm"] < 2.0, st
    # the Kinect path with the true cameras (its board calibration is checked at full size)
    r = _mestudio(
        "reconstruct", face, "--calibration", face / "ground_truth" / "cameras.json", "--method", "rgbd", "--json"
    )
    assert r.returncode == 0, r.stderr
    rg = json.loads(r.stdout)["methods"]["rgbd"]
    assert rg["frames"] >= 3 and rg["chamfer_mean_mm"] < 3.0, rg
    # the files: index.csv lists each PLY, and open3d reads them back with their vertex counts
    rows = list(csv.DictReader(open(face / "reconstruction" / "stereo" / "index.csv")))
    assert len(rows) == st["frames"]
    truth = json.loads((face / "ground_truth" / "face3d" / "basler.json").read_text())
    true_pts = np.concatenate(
        [
            np.asarray(o3d.io.read_triangle_mesh(str(face / "ground_truth" / "face3d" / "mesh" / m)).vertices)
            for m in truth["meshes"]
        ]
    )
    ref = json.loads(rig.read_text())["reference"]
    cam = json.loads((face / "ground_truth" / "cameras.json").read_text())["cameras"][ref]
    true_pts = true_pts @ np.asarray(cam["R"]).T + np.asarray(cam["t_mm"])  # into the calibration's frame
    for row in rows[:2]:
        m = o3d.io.read_triangle_mesh(str(face / "reconstruction" / "stereo" / row["file"]))
        assert len(m.vertices) == int(row["vertices"]) > 5000 and m.has_triangles()
        # independently of metrics.py: most reconstructed vertices lie within 2 mm of a true vertex
        tree = o3d.geometry.KDTreeFlann(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(true_pts)))
        v = np.asarray(m.vertices)[::50]
        near = [np.sqrt(tree.search_knn_vector_3d(p, 1)[2][0]) for p in v]
        assert np.median(near) < 1.5, np.median(near)
    # resumable: a second run computes nothing new and reports the same figures
    again = _mestudio("reconstruct", face, "--calibration", rig, "--method", "stereo", "--json")
    again = json.loads(again.stdout)["methods"]["stereo"]
    assert again["computed"] == 0 and again["chamfer_mean_mm"] == st["chamfer_mean_mm"]


def test_reconstruct_without_calibration_says_what_to_do(sessions):
    _, face = sessions
    r = _mestudio("reconstruct", face)
    assert r.returncode == 1 and "mestudio calibrate" in r.stderr and r.stderr.count("\n") == 1
    r = _mestudio("reconstruct", face, "--calibration", face / "ground_truth" / "cameras.json", "--ray", "127.0.0.1:1")
    assert r.returncode == 1 and "needs the ray package" in r.stderr


def test_bench_reconstruct_quick_reports_both_methods_and_the_baseline(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = _mestudio("bench", "reconstruct", "--quick", "--json", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    for key in ("chamfer_mean_mm", "completeness_2mm", "frames_per_s"):
        assert out["stereo"][key] > 0 and key in out["baseline_one_pair"]
    assert out["rgbd"]["chamfer_mean_mm"] > 0 and out["rgbd"]["frames_per_s"] > 0
    # fusing three pairs sees more of the face than one pair
    assert out["stereo"]["completeness_2mm"] > out["baseline_one_pair"]["completeness_2mm"]
    assert out["stereo"]["chamfer_mean_mm"] < 1.0 and out["stereo"]["vertices"] > 50_000


def test_resume_redoes_frames_made_with_another_match_scale_or_calibration(sessions):
    cal, face = sessions
    rig, truth_cams = cal / "calibration" / "rig.json", face / "ground_truth" / "cameras.json"
    if not rig.is_file():  # run on its own, without the calibration test before it
        assert _mestudio("calibrate", cal).returncode == 0
    ply, meta = face / "reconstruction" / "stereo" / "000000.ply", face / "reconstruction" / "stereo" / "000000.json"

    def stereo(*args):
        r = _mestudio("reconstruct", face, "--method", "stereo", "--frames", "0:1", "--json", *args)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["methods"]["stereo"]

    def vertices() -> int:  # read back by open3d, not from our own figures
        return len(o3d.io.read_triangle_mesh(str(ply)).vertices)

    stereo("--calibration", rig)  # frame 0 at full resolution (done already if the test above ran)
    full = vertices()
    assert stereo("--calibration", rig)["computed"] == 0  # same inputs: resumed
    half = stereo("--calibration", rig, "--match-scale", "2")
    assert half["computed"] == 1 and json.loads(meta.read_text())["settings"]["match_scale"] == 2
    assert 0 < vertices() < full  # half-resolution matching gives a coarser mesh
    assert stereo("--calibration", rig, "--match-scale", "2")["computed"] == 0
    assert stereo("--calibration", truth_cams, "--match-scale", "2")["computed"] == 1  # another calibration
    assert stereo("--calibration", rig)["computed"] == 1 and vertices() == full  # back as it was
