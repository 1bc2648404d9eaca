"""Sub-pixel ChArUco corners with a refinement window sized to the board's scale in the image.

OpenCV's ChArUco detector refines every chessboard corner in a window of a few pixels whatever
the board's size in the image.  Around a corner the board is a clean X-junction only out to the
white margin between the squares' edges and the markers, ``(square - marker) / 2`` (3.5 mm on the
25/18 mm board); a window that reaches further sees the markers' edges, whose gradients pull the
corner.  Where the board is small in an image (the Kinect's 640x480 view of poses held for the
array: ~16 px squares, tilted) that margin is ~2 px and the detector's corners miss by 0.2-0.45 px
(measured against the rendered truth, docs/4d.md "Calibration"), enough to bend the camera's
principal point and tilt it by 0.1 degrees.  Here each corner is refined again by
``cv2.cornerSubPix`` in a window no wider than that margin, measured in pixels along the board's
most foreshortened direction at the corner (the local scale of the board-to-image homography).
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_WINDOW_PX = 2  # half-size; 1 leaves too few pixels across the corner's blur
MAX_WINDOW_PX = 20  # half-size; large boards gain nothing from more
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-4)


def board_scale_px_per_mm(board_xy: np.ndarray, px: np.ndarray) -> np.ndarray | None:
    """Per corner, the smallest image scale (px per board mm, any direction) of the homography
    from the board plane to the image; None when the corners do not fix one."""
    spread = np.linalg.svd(board_xy - board_xy.mean(0), compute_uv=False) if len(px) >= 4 else np.zeros(2)
    if spread[-1] < 1e-6 * max(spread[0], 1.0):  # fewer than 4 corners, or one row: no homography
        return None
    H, _ = cv2.findHomography(board_xy.astype(np.float64), px.astype(np.float64), 0)
    if H is None or not np.all(np.isfinite(H)):
        return None
    x, y = board_xy[:, 0], board_xy[:, 1]
    d = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    u = (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / d
    v = (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / d
    # the homography's Jacobian at each corner, (n, 2, 2)
    J = (
        np.stack(
            [
                np.stack([H[0, 0] - u * H[2, 0], H[0, 1] - u * H[2, 1]], -1),
                np.stack([H[1, 0] - v * H[2, 0], H[1, 1] - v * H[2, 1]], -1),
            ],
            1,
        )
        / d[:, None, None]
    )
    scale = np.linalg.svd(J, compute_uv=False).min(axis=1)
    return scale if np.all(np.isfinite(scale)) else None


def refine_corners(gray: np.ndarray, ids: np.ndarray, px: np.ndarray, board: cv2.aruco.CharucoBoard) -> np.ndarray:
    """The detector's corners ``px`` (n, 2) of board corners ``ids``, refined in scale-sized windows."""
    objp = np.asarray(board.getChessboardCorners(), np.float64)[ids, :2]
    scale = board_scale_px_per_mm(objp, px)
    if scale is None:
        return px
    margin_mm = (board.getSquareLength() - board.getMarkerLength()) / 2
    windows = np.clip(np.floor(scale * margin_mm), MIN_WINDOW_PX, MAX_WINDOW_PX).astype(int)
    out = px.copy()
    for w in np.unique(windows):
        m = windows == w
        c = np.ascontiguousarray(px[m], np.float32).reshape(-1, 1, 2)
        cv2.cornerSubPix(gray, c, (int(w), int(w)), (-1, -1), _CRITERIA)
        out[m] = c.reshape(-1, 2)
    # a corner refined out of its own window lost the X-junction: keep the detector's estimate
    # (moves within it are real: the detector's corners miss by up to ~2 px on tilted boards)
    lost = np.abs(out - px).max(axis=1) > windows
    out[lost] = px[lost]
    return out
