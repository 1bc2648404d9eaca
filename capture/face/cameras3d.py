"""The study's camera layout around the 3D face, as calibrated pinhole cameras (OpenCV model).

Rig frame: mm, X to the frontal view's right, Y down, Z away from the frontal camera; the face
is at the origin.  A camera maps a rig point P to its frame as ``R @ P + t`` (OpenCV's
extrinsics), then ``K`` and the distortion ``dist`` (k1, k2, p1, p2, k3) to pixels.

* ``basler-0`` ... ``basler-5``: 1600x1200 mono, three stereo pairs (left, centre, right pods at
  yaw -30, 0, +30 degrees, 1 m from the face), 200 mm horizontal baseline in each pair, both
  cameras of a pair aimed at the face.  f = 3600 px (a 27 mm lens on 7.4 um pixels).
* ``frontal``: 640x480 grayscale on the axis, 1 m away, just above the centre pod.
* ``kinect-color`` / ``kinect-depth``: 640x480 at 0.8 m below the axis; depth is registered to
  colour (the Kinect's registration mode), so both share one geometry.

``ground_truth/cameras.json`` holds ``{"units": "mm", "cameras": {stream_id: camera}}``; the camera
model and its JSON form are stream/cameras.py's (reconstruct reads the same).
"""

from __future__ import annotations

import fcntl
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mestudio.stream.cameras import Camera, cameras_from_json, cameras_to_json

CAMERAS_FILE = "cameras.json"
PAIRS = (("basler-0", "basler-1"), ("basler-2", "basler-3"), ("basler-4", "basler-5"))
FACE_TARGET = (0.0, 0.0, 20.0)  # where the cameras aim: a little behind the nose, mm


def look_at(position, target=FACE_TARGET, up=(0.0, -1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV extrinsics (R, t) of a camera at ``position`` looking at ``target`` (image up = ``up``)."""
    c = np.asarray(position, np.float64)
    z = np.asarray(target, np.float64) - c
    z /= np.linalg.norm(z)
    x = np.cross(-np.asarray(up, np.float64), z)  # image x: right, with image y down
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ c


def _intrinsics(f: float, width: int, height: int, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    return np.array([[f, 0, width / 2 - 0.5 + dx], [0, f, height / 2 - 0.5 + dy], [0, 0, 1.0]])


def study_rig() -> list[Camera]:
    """Every camera of the study's rig at full resolution (see the module docstring)."""
    cams: list[Camera] = []
    rng = np.random.default_rng(4)  # fixed small lens differences, so calibration has something to find
    for pod, yaw in enumerate((-30.0, 0.0, 30.0)):
        a = math.radians(yaw)
        centre = np.array([1000 * math.sin(a), 0.0, -1000 * math.cos(a)])
        tangent = np.array([math.cos(a), 0.0, math.sin(a)])
        for j, side in enumerate((-1.0, 1.0)):
            R, t = look_at(centre + side * 100.0 * tangent)
            dist = np.array([-0.06, 0.08, 0.0, 0.0, 0.0]) + rng.normal(0, 0.005, 5) * [1, 1, 0.05, 0.05, 0]
            f = 3600 + rng.normal(0, 15)
            K = _intrinsics(f, 1600, 1200, *rng.normal(0, 6, 2))
            cams.append(Camera(f"basler-{2 * pod + j}", 1600, 1200, K, dist, R, t, "mono", {"pair": pod}))
    R, t = look_at((0.0, -180.0, -985.0))
    cams.append(Camera("frontal", 640, 480, _intrinsics(1450, 640, 480), np.array([-0.1, 0.05, 0, 0, 0]), R, t))
    R, t = look_at((0.0, 260.0, -760.0))
    K = _intrinsics(525, 640, 480)
    kd = np.zeros(5)
    cams.append(Camera("kinect-color", 640, 480, K, kd, R, t, "rgb"))
    cams.append(
        Camera(
            "kinect-depth",
            640,
            480,
            K.copy(),
            kd.copy(),
            R.copy(),
            t.copy(),
            "depth",
            {"registered_to": "kinect-color", "ir_baseline_mm": 75.0, "ir_focal_px": 580.0},
        )
    )
    return cams


def rig_camera(name: str) -> Camera:
    for c in study_rig():
        if c.name == name:
            return c
    raise KeyError(f"no camera {name!r} in the study's rig")


def save_cameras(folder: str | Path, cameras: dict[str, Camera]) -> Path:
    """Merge ``{stream_id: camera}`` into ``folder/cameras.json`` (several device processes write it)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CAMERAS_FILE
    with open(folder / ".cameras.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        body: dict[str, Any] = (
            json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"units": "mm", "cameras": {}}
        )
        body["frame"] = "rig: X right of the frontal view, Y down, Z away from it; x_cam = R @ X + t_mm"
        body["distortion_model"] = "opencv k1 k2 p1 p2 k3"
        body["cameras"].update(cameras_to_json(cameras))
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
        tmp.replace(path)
    return path


def load_cameras(path: str | Path) -> dict[str, Camera]:
    return cameras_from_json(json.loads(Path(path).read_text(encoding="utf-8")))
