"""A ChArUco calibration board moved in front of the 3D rig (``source = "charuco"``).

The board is OpenCV's ChArUco layout (``BOARD``: 9 x 7 squares of 25 mm, 18 mm markers,
DICT_5X5_100), printed at 10 texels per mm with a 10 mm white margin, on a flat plate.  Loop
time ``t`` shows it in pose ``board_pose(pose_at(t, loop_s))``: its centre walked over a 3 x 3
grid across the rig's field of view, tilted up to 40 degrees, so every camera sees it from a
different angle in each frame and the corners reach the images' edges.  The texture is
pre-filtered per camera to the camera's footprint on the board (a box filter's worth),
so a corner's image does not alias: calibration then measures the cameras, not the renderer.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from mestudio.capture.face.mesh3d import FaceMesh, rotation_zy
from mestudio.stream.cameras import Camera

SQUARES = (9, 7)
SQUARE_MM = 25.0
MARKER_MM = 18.0
DICTIONARY = cv2.aruco.DICT_5X5_100
TEXELS_PER_MM = 10
MARGIN_MM = 10.0
WHITE, BLACK = 0.85, 0.06
# the loop holds each of BOARD_POSES poses for loop_s / BOARD_POSES seconds, as a person holding
# the board still would: cameras that are not triggered together (the Kinect) see the same pose
ARRAY_POSES = 18  # in front of the face, for every camera
KINECT_POSES = 4  # then near the Kinect, filling its view (from the face's distance the board is small in it)
BOARD_POSES = ARRAY_POSES + KINECT_POSES
# where the board's centre goes (mm in the rig frame, x right, y down), pose k at GRID[k % 9]
GRID = [(x, y) for y in (-70.0, 0.0, 70.0) for x in (-100.0, 0.0, 100.0)]
BOARD_VERSION = 2  # part of the render cache key: new poses render anew


def pose_at(t_loop: float, loop_s: float) -> int:
    """Which pose the board is in at loop time ``t_loop``."""
    return int(t_loop / loop_s * BOARD_POSES + 1e-9) % BOARD_POSES


def board() -> cv2.aruco.CharucoBoard:
    return cv2.aruco.CharucoBoard(SQUARES, SQUARE_MM, MARKER_MM, cv2.aruco.getPredefinedDictionary(DICTIONARY))


def board_description() -> dict:
    """What ``mestudio calibrate`` needs to know of the board (saved with the session)."""
    return {
        "type": "charuco",
        "squares": list(SQUARES),
        "square_mm": SQUARE_MM,
        "marker_mm": MARKER_MM,
        "dictionary": "DICT_5X5_100",
    }


@lru_cache(maxsize=1)
def board_texture() -> np.ndarray:
    """float32 0..1 image of the board with its margin; texel centre (u, v) is board point
    ((u + 0.5) / TEXELS_PER_MM - MARGIN_MM, (v + 0.5) / TEXELS_PER_MM - MARGIN_MM) mm."""
    m = int(MARGIN_MM * TEXELS_PER_MM)
    w, h = (int(SQUARES[0] * SQUARE_MM * TEXELS_PER_MM), int(SQUARES[1] * SQUARE_MM * TEXELS_PER_MM))
    img = board().generateImage((w + 2 * m, h + 2 * m), marginSize=m, borderBits=1)
    return (BLACK + (WHITE - BLACK) * img.astype(np.float32) / 255.0).astype(np.float32)


def board_pose(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(R, t): board point X (mm, board frame: X along the squares, Y down, Z into the board) -> rig.

    The poses a calibration needs, as a careful experimenter holds them: the board's centre walks
    a 3 x 3 grid over the rig's common field of view (so corners reach every image's edges and
    corners, where the distortion and principal point show), nearer and farther than the face,
    tilted up to 40 degrees (the tilts are what separate focal length from distance).  The last
    ``KINECT_POSES`` hold it 0.4 m in front of the Kinect, its corners spread over that view."""
    rng = np.random.default_rng((seed, k))
    if k % BOARD_POSES >= ARRAY_POSES:
        return _near_kinect_pose(k % BOARD_POSES - ARRAY_POSES, rng)
    gx, gy = GRID[k % len(GRID)]
    yaw, pitch, roll = rng.uniform(-40, 40), rng.uniform(-35, 35), rng.uniform(-20, 20)
    a = math.radians(pitch)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]], np.float32)
    R = rotation_zy(roll, yaw) @ rx
    centre = np.array([SQUARES[0] * SQUARE_MM / 2, SQUARES[1] * SQUARE_MM / 2, 0.0], np.float32)
    shift = np.array([gx + rng.uniform(-12, 12), gy + rng.uniform(-10, 10), rng.uniform(-90, 110)], np.float32)
    return R.astype(np.float64), (shift - R @ centre).astype(np.float64)


def _near_kinect_pose(j: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from mestudio.capture.face.cameras3d import rig_camera

    cam = rig_camera("kinect-color")
    yaw, pitch, roll = rng.uniform(-30, 30), rng.uniform(-25, 25), rng.uniform(-20, 20)
    a = math.radians(pitch)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    R = cam.R.T @ rotation_zy(roll, yaw).astype(np.float64) @ rx  # facing the Kinect, then tilted
    off = [(-60.0, -45.0), (60.0, -45.0), (-60.0, 45.0), (60.0, 45.0)][j % 4]
    c_cam = np.array([off[0] + rng.uniform(-10, 10), off[1] + rng.uniform(-10, 10), rng.uniform(380, 430)])
    centre = np.array([SQUARES[0] * SQUARE_MM / 2, SQUARES[1] * SQUARE_MM / 2, 0.0])
    return R, cam.R.T @ (c_cam - cam.t) - R @ centre


def board_mesh(k: int, seed: int = 0) -> FaceMesh:
    """The board plate in loop pose ``k``, as a two-triangle mesh whose uv are board-texture texels."""
    R, t = board_pose(k, seed)
    x0, y0 = -MARGIN_MM, -MARGIN_MM
    x1, y1 = SQUARES[0] * SQUARE_MM + MARGIN_MM, SQUARES[1] * SQUARE_MM + MARGIN_MM
    corners = np.array([[x0, y0, 0], [x1, y0, 0], [x0, y1, 0], [x1, y1, 0]], np.float64)
    v = (corners @ R.T + t).astype(np.float32)
    uv = ((corners[:, :2] + MARGIN_MM) * TEXELS_PER_MM - 0.5).astype(np.float32)
    faces = np.array([[0, 2, 1], [1, 2, 3]], np.int32)
    return FaceMesh(v, faces, np.full((4, 3), 255, np.uint8), np.zeros(4, bool), uv)


@lru_cache(maxsize=8)
def _filtered_texture(sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(board_texture(), (0, 0), sigma) if sigma > 0.3 else board_texture()


def shade_board(cam: Camera, cast: dict[str, np.ndarray], distance_mm: float) -> np.ndarray:
    """float32 RGB 0..1 of the board under ``cast`` (background dark), texture pre-filtered to the footprint."""
    footprint_texels = distance_mm / cam.K[0, 0] * TEXELS_PER_MM
    tex = _filtered_texture(round(0.45 * footprint_texels, 1))
    uv = cast["uv"]
    g = cv2.remap(tex, uv[..., 0], uv[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    g = np.where(cast["hit"], g, 0.07).astype(np.float32)
    return np.repeat(g[..., None], 3, axis=2)
