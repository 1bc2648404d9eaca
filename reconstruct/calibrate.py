"""Rig calibration from a recording of a ChArUco board: every camera's intrinsics, distortion and
pose in one frame, refined jointly (bundle adjustment over cameras and board poses).

1. Per frame set, OpenCV's ChArUco detector finds the board's inner corners in every camera; each
   is refined again in a window sized to the board's scale in that image (corners.py).
2. Per camera, ``cv2.calibrateCamera`` starts the intrinsics (k1, k2, p1, p2; k3 fixed at 0).
3. Poses start from board poses seen by two cameras at once (chained through the co-visibility
   graph), relative to the reference camera (the rig frame of ``rig.json``).
4. ``scipy.optimize.least_squares`` refines everything together on the reprojection error
   (sparse Jacobian, robust soft-L1 loss).
A depth stream registered to a colour stream gets that camera's calibration.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mestudio.reconstruct.corners import refine_corners
from mestudio.reconstruct.errors import CalibrationError
from mestudio.reconstruct.frames import SessionFrames, read_json

MIN_CORNERS = 6
MIN_VIEWS = 4
OUT_OF_SYNC_RMS_PX = 1.0
MOVED_VIEW_PX = 1.0  # a view whose corners miss by more than this saw another pose
MAX_NFEV = 60  # the refinement's evaluations per round (its RMS is at the corners' noise by then)
DEFAULT_BOARD = {"squares": [9, 7], "square_mm": 25.0, "marker_mm": 18.0, "dictionary": "DICT_5X5_100"}


def make_board(desc: dict) -> cv2.aruco.CharucoBoard:
    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, desc["dictionary"]))
    return cv2.aruco.CharucoBoard(tuple(desc["squares"]), float(desc["square_mm"]), float(desc["marker_mm"]), d)


def board_of_session(root: Path) -> dict:
    """The board the recording shows (written by the synthetic rig), else the default layout."""
    for p in sorted((root / "ground_truth" / "face3d").glob("*.json")):
        body = read_json(p)
        if body.get("board"):
            return body["board"]
    return DEFAULT_BOARD


@dataclass
class Obs:
    camera: int
    view: int
    ids: np.ndarray
    px: np.ndarray  # (n, 2)


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img


def _rt(rvec, tvec) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(np.asarray(rvec, np.float64))[0]
    T[:3, 3] = np.ravel(tvec)
    return T


def _project(points, rvec, tvec, intr) -> np.ndarray:
    """Vectorised OpenCV projection (k1, k2, p1, p2): points (n,3), rvec/tvec/intr per point."""
    theta = np.linalg.norm(rvec, axis=1, keepdims=True)
    k = rvec / np.maximum(theta, 1e-12)
    c, s = np.cos(theta), np.sin(theta)
    p = points * c + np.cross(k, points) * s + k * np.sum(k * points, axis=1, keepdims=True) * (1 - c)
    p = p + tvec
    x, y = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
    fx, fy, cx, cy, k1, k2, p1, p2 = intr.T
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([fx * xd + cx, fy * yd + cy], axis=1)


def detect_board(
    det: cv2.aruco.CharucoDetector, images: list[np.ndarray], view: int, scale_windows: bool = True
) -> list[Obs]:
    """The board's corners in each camera's image of one view (cameras that find too few are left out).

    ``scale_windows``: refine each corner again in a window sized to the board in that image
    (corners.py); False keeps the ChArUco detector's own corners (the old behaviour, for the bench)."""
    found = []
    board = det.getBoard()
    for ci, img in enumerate(images):
        gray = _gray(img)
        corners, ids, _, _ = det.detectBoard(gray)
        if ids is not None and len(ids) >= MIN_CORNERS:
            ids = ids.ravel().astype(int)
            px = corners.reshape(-1, 2).astype(np.float64)
            if scale_windows:
                px = refine_corners(gray, ids, px, board)
            found.append(Obs(ci, view, ids, px))
    return found


def detect_views(
    frames: SessionFrames, cameras: list[str], board: cv2.aruco.CharucoBoard, max_views: int, say
) -> tuple[list[Obs], int]:
    """Board corners per (camera, frame set); frame sets showing a pose already seen are skipped."""
    sets = frames.framesets(cameras)
    if not sets:
        present = frames.framesets()
        have = {s for fs in present for s in fs.seq}
        missing = [c for c in cameras if c not in have]
        raise CalibrationError(
            f"{frames.root}: camera {missing[0] if missing else cameras[0]}: no frame set holds it together "
            "with the other cameras (out of sync, or not recorded)"
        )
    det = cv2.aruco.CharucoDetector(board)
    obs: list[Obs] = []
    seen: list[np.ndarray] = []
    step = max(1, len(sets) // (4 * max_views))
    view = 0
    for fs in sets[::step]:
        found = detect_board(det, [frames.frame(cam, fs.seq[cam]) for cam in cameras], view)
        if not found:
            continue
        sig = np.concatenate([[o.camera, o.px[:, 0].mean(), o.px[:, 1].mean()] for o in found])
        if any(len(s) == len(sig) and np.abs(s - sig).max() < 0.5 for s in seen):
            continue  # the board's loop came round again: the same pose adds nothing
        seen.append(sig)
        obs += found
        view += 1
        if say:
            say(view, max_views)
        if view >= max_views:
            break
    return obs, view


def calibrate_session(
    root: str | Path,
    reference: str | None = None,
    max_views: int = 24,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Calibrate every camera of a board recording; writes ``calibration/rig.json`` + ``rig.yaml``;
    returns the report (``reprojection_rms_px``, ``cameras``, ``vs_truth`` when truth exists)."""
    root = Path(root)
    frames = SessionFrames(root)
    infos = {s: frames.stream_info(s) for s in frames.reader.stream_ids()}
    cameras = sorted(s for s, i in infos.items() if i["media"] == "video" and i["pixel_format"] in ("mono8", "rgb8"))
    if not cameras:
        raise CalibrationError(f"{root}: no camera streams (mono8/rgb8) to calibrate")
    desc = board_of_session(root)
    board = make_board(desc)
    obs, n_views = detect_views(frames, cameras, board, max_views, progress)
    sizes = {c: (infos[c]["shape"][1], infos[c]["shape"][0]) for c in cameras}
    report, rig = solve_rig(obs, n_views, cameras, sizes, board, reference, where=str(root))
    report = {"session": str(root), **report}
    rig["board"] = desc
    for s, info in infos.items():  # registered depth: the colour camera's geometry
        reg = info.get("settings", {}).get("registered_to")
        if info["media"] == "depth" and reg in rig["cameras"]:
            rig["cameras"][s] = {**rig["cameras"][reg], "registered_to": reg}
            report["cameras"][s] = {"registered_to": reg}
    truth = root / "ground_truth" / "cameras.json"
    if truth.is_file():
        report["vs_truth"] = compare_with_truth(rig, read_json(truth), rig["reference"])
    out = root / "calibration"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rig.json").write_text(json.dumps(rig, indent=1), encoding="utf-8")
    write_opencv_yaml(out / "rig.yaml", rig)
    report["files"] = [str(out / "rig.json"), str(out / "rig.yaml")]
    return report


def _initial_intrinsics(ob: list[Obs], objp: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, list]:
    """One camera's start: (fx, fy, cx, cy, k1, k2, p1, p2) and the board's pose in each view."""
    w, h = size
    f0 = 1.2 * max(w, h)
    K0 = np.array([[f0, 0, w / 2 - 0.5], [0, f0, h / 2 - 0.5], [0, 0, 1]])
    # a start that small boards (the Kinect's view) cannot lead astray: principal point at the
    # centre, no tangential terms; the joint refinement frees them
    flags = cv2.CALIB_FIX_K3 | cv2.CALIB_USE_INTRINSIC_GUESS
    flags |= cv2.CALIB_FIX_PRINCIPAL_POINT | cv2.CALIB_ZERO_TANGENT_DIST
    _, K, dist, rvecs, tvecs = cv2.calibrateCamera(
        [objp[o.ids].astype(np.float32) for o in ob],
        [o.px.astype(np.float32) for o in ob],
        (w, h),
        K0,
        np.zeros(5),
        flags=flags,
    )
    intr = np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2], *np.ravel(dist)[:4]])
    return intr, [_rt(r, t) for r, t in zip(rvecs, tvecs)]


def solve_rig(
    obs: list[Obs],
    n_views: int,
    cameras: list[str],
    sizes: dict[str, tuple[int, int]],
    board: cv2.aruco.CharucoBoard,
    reference: str | None = None,
    where: str = "calibration",
    refine: bool = True,
) -> tuple[dict, dict]:
    """Board corners seen by the cameras -> (report, rig) in the reference camera's frame.

    ``obs`` holds one entry per (camera index, view) that found the board; errors name the camera
    and start with ``where`` (the session).  ``refine=False`` stops before the joint refinement
    (each camera calibrated alone, chained through shared views: the bench's baseline)."""
    objp = np.asarray(board.getChessboardCorners(), np.float64)
    by_cam = {ci: [o for o in obs if o.camera == ci] for ci in range(len(cameras))}
    for ci, cam in enumerate(cameras):
        if not by_cam[ci]:
            raise CalibrationError(f"{where}: camera {cam}: no ChArUco board found in its frames")
        if len(by_cam[ci]) < MIN_VIEWS:
            raise CalibrationError(
                f"{where}: camera {cam}: the board was found in {len(by_cam[ci])} distinct poses; "
                f"calibration needs at least {MIN_VIEWS} (move the board through more of its view)"
            )
    if reference and reference not in cameras:
        raise CalibrationError(f"{where}: reference camera {reference!r} is not among {', '.join(cameras)}")
    # 2. intrinsics per camera, and the board's pose in each of its views
    intr = np.zeros((len(cameras), 8))
    pose: dict[tuple[int, int], np.ndarray] = {}
    for ci, cam in enumerate(cameras):
        intr[ci], poses = _initial_intrinsics(by_cam[ci], objp, sizes[cam])
        for o, T in zip(by_cam[ci], poses):
            pose[(ci, o.view)] = T
    ref = cameras.index(reference) if reference else max(range(len(cameras)), key=lambda c: len(by_cam[c]))
    # 3. camera poses relative to the reference, through views two cameras share (BFS)
    cam_T: dict[int, np.ndarray] = {ref: np.eye(4)}
    queue = deque([ref])
    views_of = {ci: {o.view for o in by_cam[ci]} for ci in by_cam}
    while queue:
        a = queue.popleft()
        for b in range(len(cameras)):
            if b in cam_T:
                continue
            shared = sorted(views_of[a] & views_of[b])
            if shared:
                # every shared view proposes b's pose; take the medoid, which one bad PnP cannot move
                cands = [pose[(b, v)] @ np.linalg.inv(pose[(a, v)]) @ cam_T[a] for v in shared]
                centres = np.array([-(T[:3, :3].T @ T[:3, 3]) for T in cands])
                cost = np.linalg.norm(centres[:, None] - centres[None], axis=2).sum(1)
                cam_T[b] = cands[int(np.argmin(cost))]
                queue.append(b)
    lonely = [cameras[c] for c in range(len(cameras)) if c not in cam_T]
    if lonely:
        raise CalibrationError(
            f"{where}: camera {lonely[0]}: never sees the board at the same time as the others, so its pose "
            "in the rig is unknown (out of sync?)"
        )
    board_T = {}
    for v in range(n_views):
        c = next(ci for ci in ([ref] + list(range(len(cameras)))) if (ci, v) in pose)
        board_T[v] = np.linalg.inv(cam_T[c]) @ pose[(c, v)]
    # 4. joint refinement
    x0, unpack, sparsity = _pack(cameras, ref, intr, cam_T, board_T)
    cam_idx = np.concatenate([np.full(len(o.ids), o.camera) for o in obs])
    view_idx = np.concatenate([np.full(len(o.ids), o.view) for o in obs])
    pts = np.concatenate([objp[o.ids] for o in obs])
    px = np.concatenate([o.px for o in obs])

    def residuals(x: np.ndarray) -> np.ndarray:
        ci, cr, ct, br, bt = unpack(x)
        # board -> reference: rotate by the view's pose; reference -> camera by the camera's
        p_ref = _project_rigid(pts, br[view_idx], bt[view_idx])
        return (_project(p_ref, cr[cam_idx], ct[cam_idx], ci[cam_idx]) - px).ravel()

    from scipy.optimize import least_squares

    # a frame set straddling a board move (cameras not triggered together) disagrees with itself:
    # drop the views of the cameras that saw another pose there (the others keep theirs) and
    # refine again; a camera to blame for most of its views is out of sync
    x = x0
    blamed = np.zeros(len(cameras), int)
    dropped: set[tuple[int, int]] = set()
    fun = residuals(x)
    for _ in range(4 if refine else 0):
        res = least_squares(
            residuals,
            x,
            jac_sparsity=sparsity(cam_idx, view_idx),
            method="trf",
            x_scale="jac",
            loss="soft_l1",
            f_scale=1.0,
            max_nfev=MAX_NFEV,
        )
        x, fun = res.x, res.fun
        e2 = (fun.reshape(-1, 2) ** 2).sum(1)
        key = cam_idx * n_views + view_idx
        cnt = np.bincount(key, minlength=len(cameras) * n_views)
        rms_cv = np.sqrt(np.bincount(key, e2, minlength=cnt.size) / np.maximum(cnt, 1)).reshape(len(cameras), n_views)
        bad = {(int(c), int(v)) for c, v in zip(*np.nonzero(rms_cv > MOVED_VIEW_PX))}
        if not bad:
            break
        for c, _v in bad:
            blamed[c] += 1
        dropped |= bad
        keep = ~np.isin(key, [c * n_views + v for c, v in bad])
        cam_idx, view_idx, pts, px = cam_idx[keep], view_idx[keep], pts[keep], px[keep]
        fun = residuals(x)  # the kept corners' residuals, should the loop end here
    for c in range(len(cameras)):
        left = len(set(view_idx[cam_idx == c].tolist()))
        if left < MIN_VIEWS:  # too few views agree with the others to calibrate this camera
            raise CalibrationError(
                f"{where}: camera {cameras[c]}: in {blamed[c]} of {len(by_cam[c])} frame sets its board pose "
                f"disagrees with the other cameras', leaving {left} (out of sync, or the board moved too often)"
            )
    ci, cr, ct, br, bt = unpack(x)
    r = fun.reshape(-1, 2)
    err2 = (r**2).sum(1)
    report: dict = {
        "reference": cameras[ref],
        "views": len(set(view_idx.tolist())),
        "views_dropped": n_views - len(set(view_idx.tolist())),
        "camera_views_dropped": len(dropped),
        "corners": int(len(px)),
        "reprojection_rms_px": round(float(np.sqrt(err2.mean())), 4),
        "cameras": {},
    }
    rig: dict[str, Any] = {
        "version": 1,
        "units": "mm",
        "reference": cameras[ref],
        "frame": f"the reference camera {cameras[ref]}'s frame; x_cam = R @ X + t_mm",
        "distortion_model": "opencv k1 k2 p1 p2 k3",
        "cameras": {},
    }
    for i, cam in enumerate(cameras):
        m = cam_idx == i
        rms = float(np.sqrt(err2[m].mean()))
        K = np.array([[ci[i, 0], 0, ci[i, 2]], [0, ci[i, 1], ci[i, 3]], [0, 0, 1]])
        R = cv2.Rodrigues(cr[i])[0]
        w, h = sizes[cam]
        n_cam_views = len(set(view_idx[m].tolist()))
        rig["cameras"][cam] = {
            "width": w,
            "height": h,
            "K": K.tolist(),
            "dist": [*ci[i, 4:8].tolist(), 0.0],
            "R": R.tolist(),
            "t_mm": ct[i].tolist(),
            "reprojection_rms_px": round(rms, 4),
            "views": n_cam_views,
        }
        report["cameras"][cam] = {"reprojection_rms_px": round(rms, 4), "views": n_cam_views, "corners": int(m.sum())}
    bad_cams = [
        (c, v["reprojection_rms_px"])
        for c, v in report["cameras"].items()
        if v["reprojection_rms_px"] > OUT_OF_SYNC_RMS_PX
    ]
    if bad_cams and refine:
        c, v = max(bad_cams, key=lambda x: x[1])
        raise CalibrationError(
            f"{where}: camera {c}: reprojection RMS {v:.2f} px after joint refinement: its frames do not show the "
            "board where the other cameras do (out of sync, or moved during the recording)"
        )
    return report, rig


def _project_rigid(p: np.ndarray, rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    theta = np.linalg.norm(rvec, axis=1, keepdims=True)
    k = rvec / np.maximum(theta, 1e-12)
    c, s = np.cos(theta), np.sin(theta)
    return p * c + np.cross(k, p) * s + k * np.sum(k * p, axis=1, keepdims=True) * (1 - c) + tvec


def _pack(cameras, ref, intr, cam_T, board_T):
    """Parameter vector: per camera 8 intrinsics (+6 pose unless the reference), per view 6."""
    nc, nv = len(cameras), len(board_T)
    others = [c for c in range(nc) if c != ref]
    parts = [intr.ravel()]
    for c in others:
        parts += [cv2.Rodrigues(cam_T[c][:3, :3])[0].ravel(), cam_T[c][:3, 3]]
    for v in range(nv):
        parts += [cv2.Rodrigues(board_T[v][:3, :3])[0].ravel(), board_T[v][:3, 3]]
    x0 = np.concatenate(parts)
    n_intr, n_pose = nc * 8, len(others) * 6

    def unpack(x):
        ci = x[:n_intr].reshape(nc, 8)
        cr, ct = np.zeros((nc, 3)), np.zeros((nc, 3))
        pp = x[n_intr : n_intr + n_pose].reshape(-1, 6)
        for j, c in enumerate(others):
            cr[c], ct[c] = pp[j, :3], pp[j, 3:]
        bp = x[n_intr + n_pose :].reshape(nv, 6)
        return ci, cr, ct, bp[:, :3], bp[:, 3:]

    def sparsity(cam_idx, view_idx):
        from scipy.sparse import lil_matrix

        m = lil_matrix((2 * len(cam_idx), len(x0)), dtype=np.int8)
        pose_col = {c: n_intr + 6 * j for j, c in enumerate(others)}
        for i, (c, v) in enumerate(zip(cam_idx.tolist(), view_idx.tolist())):
            rows = [2 * i, 2 * i + 1]
            for rr in rows:
                m[rr, 8 * c : 8 * c + 8] = 1
                if c in pose_col:
                    m[rr, pose_col[c] : pose_col[c] + 6] = 1
                b = n_intr + n_pose + 6 * v
                m[rr, b : b + 6] = 1
        return m

    return x0, unpack, sparsity


def compare_with_truth(rig: dict, truth: dict, reference: str) -> dict:
    """Errors of each camera's pose relative to the reference camera, and of its focal length."""
    tc = truth["cameras"]
    if reference not in tc:
        return {"note": f"no true camera {reference!r}"}
    Rr, tr = np.asarray(tc[reference]["R"]), np.asarray(tc[reference]["t_mm"])
    per, rot, trans, foc = {}, [], [], []
    for name, c in rig["cameras"].items():
        if name not in tc or c.get("registered_to"):
            continue
        Rt, tt = np.asarray(tc[name]["R"]), np.asarray(tc[name]["t_mm"])
        R_rel, t_rel = Rt @ Rr.T, tt - Rt @ Rr.T @ tr  # true pose in the reference camera's frame
        R, t = np.asarray(c["R"]), np.asarray(c["t_mm"])
        dR = R @ R_rel.T
        ang = float(np.degrees(np.arccos(np.clip((np.trace(dR) - 1) / 2, -1, 1))))
        d_centre = float(np.linalg.norm(-R.T @ t - (-R_rel.T @ t_rel)))
        Kt, K = np.asarray(tc[name]["K"]), np.asarray(c["K"])
        fp = float(max(abs(K[0, 0] / Kt[0, 0] - 1), abs(K[1, 1] / Kt[1, 1] - 1)) * 100)
        per[name] = {"rotation_deg": round(ang, 4), "translation_mm": round(d_centre, 4), "focal_pct": round(fp, 4)}
        rot.append(ang)
        trans.append(d_centre)
        foc.append(fp)
    return {
        "rotation_deg_max": round(max(rot), 4) if rot else None,
        "translation_mm_max": round(max(trans), 4) if trans else None,
        "focal_pct_max": round(max(foc), 4) if foc else None,
        "note": "poses relative to the reference camera (the calibration's frame); translation = camera centre",
        "cameras": per,
    }


def write_opencv_yaml(path: Path, rig: dict) -> Path:
    """The rig for OpenCV's FileStorage: K_<cam>, dist_<cam>, R_<cam>, T_<cam> (names with '_')."""
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("units", "mm")
    fs.write("cameras", " ".join(rig["cameras"]))
    for name, c in rig["cameras"].items():
        key = name.replace("-", "_")
        fs.write(f"size_{key}", np.array([c["width"], c["height"]], np.int32))
        fs.write(f"K_{key}", np.asarray(c["K"]))
        fs.write(f"dist_{key}", np.asarray(c["dist"]).reshape(1, -1))
        fs.write(f"R_{key}", np.asarray(c["R"]))
        fs.write(f"T_{key}", np.asarray(c["t_mm"]).reshape(3, 1))
    fs.release()
    return path


def load_rig(path: str | Path) -> dict:
    """``calibration/rig.json`` (or ``ground_truth/cameras.json``, same camera layout)."""
    body = read_json(Path(path))
    if "cameras" not in body:
        raise CalibrationError(f"{path}: no 'cameras' in this calibration file")
    return body
