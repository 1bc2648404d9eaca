"""Rig calibration accuracy on the synthetic 3D rig, against its true cameras.

Frames: the study's cameras (six 1600x1200 Basler views, the frontal 640x480, the Kinect colour)
watching the ChArUco board in each of its poses (capture/face/board3d.py; rendered once and
cached, capture/face/prerender.py), one frame per pose in every camera, so no frame set
straddles a board move: what is measured is the calibration, not the sync.  Figures, against the
true cameras (poses relative to the reference camera): rotation, camera-centre translation and
focal length errors, per camera and their maxima over the Basler views plus the frontal camera
(``array``) and over the Kinect colour camera (``kinect``), the reprojection RMS, and seconds.

Baseline, same run: ``per_camera`` is each camera calibrated on its own (``cv2.calibrateCamera``)
and chained to the reference through the views they share, before the joint refinement.
``detector_corners`` is the joint refinement on the ChArUco detector's own corners, without the
scale-sized sub-pixel windows of reconstruct/corners.py (the solver before that change);
``corner_error_px`` is each camera's corner RMS against the rendered truth, with and without them.
``--quick`` renders the Basler views at 800x600 (f halves: figures about twice as coarse).
"""

from __future__ import annotations

import time

import numpy as np

NAME = "calibrate"
HELP = "rig calibration (ChArUco, joint refinement) vs the true cameras; each camera alone as baseline"
REFERENCE = "basler-2"


def _frames(quick: bool) -> tuple[list, dict[str, list[np.ndarray]]]:
    from mestudio.capture.face.board3d import BOARD_POSES
    from mestudio.capture.face.cameras3d import study_rig
    from mestudio.capture.face.prerender import load_loop, render_loop

    cams = [c for c in study_rig() if c.kind != "depth"]
    if quick:
        cams = [c.scaled(800, 600) if c.name.startswith("basler") else c for c in cams]
    folder = render_loop(cams, 1.0, float(BOARD_POSES), seed=0, scene="charuco")  # one frame a pose
    return cams, {c.name: [np.asarray(f) for f in load_loop(folder, c.name)] for c in cams}


def _figures(report: dict, rig: dict, truth: dict, seconds: float) -> dict:
    from mestudio.reconstruct.calibrate import compare_with_truth

    vt = compare_with_truth(rig, truth, rig["reference"])["cameras"]
    out: dict = {}
    for group, names in (("array", [n for n in vt if n != "kinect-color"]), ("kinect", ["kinect-color"])):
        names = [n for n in names if n in vt]
        if names:
            out[group] = {
                f"{k}_max": round(max(vt[n][k] for n in names), 4)
                for k in ("rotation_deg", "translation_mm", "focal_pct")
            }
    out["reprojection_rms_px"] = report["reprojection_rms_px"]
    out["views"] = report["views"]
    out["seconds"] = round(seconds, 2)
    out["cameras"] = vt
    return out


def _corner_rms(obs: list, cams: list, names: list[str], board) -> dict[str, float]:
    """Each camera's detected corners against their true projection (the rendered board poses)."""
    from mestudio.capture.face.board3d import board_pose

    objp = np.asarray(board.getChessboardCorners(), np.float64)
    by_name = {c.name: c for c in cams}
    err: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for o in obs:
        R, t = board_pose(o.view)
        err[names[o.camera]].append(o.px - by_name[names[o.camera]].project(objp[o.ids] @ R.T + t))
    return {n: round(float(np.sqrt((np.concatenate(e) ** 2).sum(1).mean())), 4) for n, e in err.items() if e}


def run(args) -> dict:
    import cv2

    from mestudio.reconstruct.calibrate import DEFAULT_BOARD, detect_board, make_board, solve_rig

    quick = bool(getattr(args, "quick", False))
    t0 = time.perf_counter()
    cams, frames = _frames(quick)
    render_s = time.perf_counter() - t0
    names = sorted(frames)
    board = make_board(DEFAULT_BOARD)
    det = cv2.aruco.CharucoDetector(board)
    n_views = len(frames[names[0]])
    t = time.perf_counter()
    obs = [o for v in range(n_views) for o in detect_board(det, [frames[n][v] for n in names], v)]
    detect_s = time.perf_counter() - t
    raw = [o for v in range(n_views) for o in detect_board(det, [frames[n][v] for n in names], v, False)]
    sizes = {c.name: (c.width, c.height) for c in cams}
    truth = {"cameras": {c.name: c.to_json() for c in cams}}
    out: dict = {}
    for key, seen, refine in (("joint", obs, True), ("per_camera", obs, False), ("detector_corners", raw, True)):
        t = time.perf_counter()
        report, rig = solve_rig(seen, n_views, names, sizes, board, REFERENCE, "bench", refine=refine)
        out[key] = _figures(report, rig, truth, time.perf_counter() - t)
    out["corner_error_px"] = {
        "scale_windows": _corner_rms(obs, cams, names, board),
        "detector": _corner_rms(raw, cams, names, board),
    }
    j, b = out["joint"]["array"], out["per_camera"]["array"]
    out["ratios"] = {
        f"joint_vs_per_camera_{k}": round(j[k] / max(b[k], 1e-9), 3)
        for k in ("rotation_deg_max", "translation_mm_max", "focal_pct_max")
    }
    for group in ("array", "kinect"):
        if group in out["joint"] and group in out["detector_corners"]:
            new, old = out["joint"][group], out["detector_corners"][group]
            out["ratios"][f"scale_windows_vs_detector_{group}_rotation_deg_max"] = round(
                new["rotation_deg_max"] / max(old["rotation_deg_max"], 1e-9), 3
            )
    out["setup"] = {
        "cameras": {c.name: f"{c.width}x{c.height}" for c in cams},
        "board_poses": n_views,
        "corners": sum(len(o.ids) for o in obs),
        "detect_s": round(detect_s, 2),
        "render_or_cache_s": round(render_s, 1),
        "targets": "reprojection RMS <= 0.3 px, rotation <= 0.1 deg, translation <= 0.5 mm (array)",
    }
    return out
