"""The one camera model (stream/cameras.py): the 3D rig saves it, reconstruct reads it back; a bad
camera file gets one error naming the camera and the field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mestudio.capture.face import cameras3d
from mestudio.capture.face.cameras3d import load_cameras, rig_camera, save_cameras
from mestudio.stream.cameras import Camera, CameraFileError, cameras_from_json


def test_the_rig_and_reconstruct_share_one_camera(tmp_path):
    assert cameras3d.Camera is Camera
    cam = rig_camera("kinect-depth")
    save_cameras(tmp_path, {"kinect-depth": cam})
    body = json.loads((tmp_path / "cameras.json").read_text())
    back = cameras_from_json(body)["kinect-depth"]
    assert back.registered_to == "kinect-color" and back.kind == "depth"
    assert np.allclose(back.K, cam.K) and np.allclose(back.R, cam.R) and np.allclose(back.t, cam.t)
    assert load_cameras(tmp_path / "cameras.json")["kinect-depth"].extra == cam.extra


def test_projection_follows_the_pinhole_geometry():
    cam = rig_camera("basler-2")
    # a point on the optical axis lands on the principal point (no distortion at the centre)
    on_axis = cam.centre + 1000.0 * cam.axis
    assert np.allclose(cam.project(on_axis[None]), cam.K[:2, 2], atol=1e-6)
    # the extrinsic puts the camera centre at the origin of the camera frame
    assert np.allclose((cam.extrinsic() @ np.append(cam.centre, 1.0))[:3], 0.0, atol=1e-9)
    # half the resolution, the same field of view: a pixel's edges stay where they were
    small = cam.scaled(cam.width // 2, cam.height // 2)
    p = cam.centre + 1000.0 * (cam.R.T @ np.linalg.inv(cam.K) @ np.array([-0.5, -0.5, 1.0]))
    assert np.allclose((cam.project(p[None]) + 0.5) / 2 - 0.5, small.project(p[None]), atol=1e-6)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"K": [[1, 0], [0, 1]]}, "'K' must be (3, 3)"),
        ({"t_mm": [0, 0, float("nan")]}, "'t_mm' must be (3,)"),
        ({"dist": [0.1, 0.2]}, "'dist' must hold"),
        ({"width": "wide"}, "not a number"),
        ({"R": None}, "'R' must be (3, 3)"),
    ],
)
def test_a_bad_camera_is_named_with_its_field(change, words):
    body = {"cameras": {"basler-0": {**rig_camera("basler-0").to_json(), **change}}}
    with pytest.raises(CameraFileError, match="camera 'basler-0'") as e:
        cameras_from_json(body)
    assert words in str(e.value) and isinstance(e.value, ValueError)


def test_a_file_without_cameras_is_refused():
    with pytest.raises(CameraFileError, match="no 'cameras'"):
        cameras_from_json({"units": "mm"})
    with pytest.raises(CameraFileError, match="no 'K'"):
        cameras_from_json({"cameras": {"x": {"width": 1, "height": 1}}})


def test_reconstruct_names_the_bad_camera_of_its_calibration_file(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    bad = {"cameras": {"basler-0": {**rig_camera("basler-0").to_json(), "R": [[1, 0, 0]]}}}
    (tmp_path / "rig.json").write_text(json.dumps(bad))
    r = subprocess.run(
        [sys.executable, "-m", "mestudio", "reconstruct", str(tmp_path), "--calibration", str(tmp_path / "rig.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "rig.json: camera 'basler-0': 'R' must be (3, 3)" in r.stderr
