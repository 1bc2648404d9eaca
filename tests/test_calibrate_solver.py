"""The rig calibration's solver (reconstruct/calibrate.py solve_rig) on board corners projected by
the study's true cameras (OpenCV's projectPoints, with pixel noise): it recovers the cameras, and a
camera that saw another board pose in one view loses that view only."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.capture.face.board3d import ARRAY_POSES, board, board_pose
from mestudio.capture.face.cameras3d import study_rig
from mestudio.reconstruct.calibrate import Obs, compare_with_truth, solve_rig
from mestudio.reconstruct.errors import CalibrationError
from mestudio.stream.cameras import cameras_to_json

pytestmark = pytest.mark.slow  # three bundle adjustments, about 20 s of CPU

NOISE_PX = 0.05


def _observations(cams, moved: tuple[int, int] | None = None, seed: int = 1) -> list[Obs]:
    """Each camera's view of each array pose: the corners inside its image, projected with noise.
    ``moved = (camera, view)``: that camera saw the board of the next pose in that view."""
    rng = np.random.default_rng(seed)
    objp = np.asarray(board().getChessboardCorners(), np.float64)
    obs = []
    for v in range(ARRAY_POSES):
        for ci, c in enumerate(cams):
            R, t = board_pose(v + 1 if moved == (ci, v) else v)
            px = c.project(objp @ R.T + t) + rng.normal(0, NOISE_PX, (len(objp), 2))
            inside = (px[:, 0] >= 0) & (px[:, 0] < c.width) & (px[:, 1] >= 0) & (px[:, 1] < c.height)
            if inside.sum() >= 6:
                obs.append(Obs(ci, v, np.nonzero(inside)[0], px[inside]))
    return obs


@pytest.fixture(scope="module")
def rig():
    # the centre pod and the frontal camera: a small rig that solves in seconds
    return [c for c in study_rig() if c.name in ("basler-2", "basler-3", "frontal")]


def _solve(cams, obs, **kw):
    names = [c.name for c in cams]
    return solve_rig(obs, ARRAY_POSES, names, {c.name: (c.width, c.height) for c in cams}, board(), "basler-2", **kw)


def test_joint_refinement_recovers_the_true_cameras(rig):
    report, solved = _solve(rig, _observations(rig))
    assert report["reprojection_rms_px"] < 2 * NOISE_PX
    truth = {"cameras": cameras_to_json({c.name: c for c in rig})}
    vt = compare_with_truth(solved, truth, "basler-2")
    assert vt["rotation_deg_max"] < 0.05 and vt["translation_mm_max"] < 0.5 and vt["focal_pct_max"] < 0.05, vt
    # the baseline (each camera alone, chained) is measurably worse: the refinement did the work
    _, alone = _solve(rig, _observations(rig), refine=False)
    assert compare_with_truth(alone, truth, "basler-2")["translation_mm_max"] > vt["translation_mm_max"]


def test_a_camera_that_saw_another_pose_loses_only_that_view(rig):
    clean, _ = _solve(rig, _observations(rig))
    report, _ = _solve(rig, _observations(rig, moved=(2, 5)))  # the frontal camera, view 5
    assert report["camera_views_dropped"] == 1 and report["views_dropped"] == 0
    assert report["cameras"]["frontal"]["views"] == clean["cameras"]["frontal"]["views"] - 1
    assert report["cameras"]["basler-3"]["views"] == clean["cameras"]["basler-3"]["views"]
    assert report["reprojection_rms_px"] < 2 * NOISE_PX


def test_a_camera_missing_from_the_views_is_named(rig):
    obs = [o for o in _observations(rig) if not (o.camera == 1 and o.view > 2)]
    with pytest.raises(CalibrationError, match=r"camera basler-3: the board was found in 3 distinct poses"):
        _solve(rig, obs)
