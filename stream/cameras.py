"""Calibrated pinhole cameras (OpenCV's model) and their JSON form: the one definition that the
synthetic 3D rig (capture/face: the true cameras it saves) and the 4D stage (reconstruct: the
calibrations it writes and reads) share, since neither may import the other.

A camera maps a point P of its rig's frame (mm) to its own frame as ``R @ P + t``, then ``K``
and the distortion ``dist`` (k1, k2, p1, p2[, k3]) to pixels.  JSON (``ground_truth/cameras.json``,
``calibration/rig.json``): ``{"cameras": {name: {"width", "height", "K", "dist", "R", "t_mm",
...}}}``; any other key of a camera (``kind``, ``registered_to``, ``pair``, figures) is kept in
``extra`` and written back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mestudio.stream.errors import StreamError

_KNOWN = ("width", "height", "kind", "K", "dist", "R", "t_mm")


class CameraFileError(StreamError, ValueError):
    """A camera description (cameras.json, rig.json) that is not a calibrated camera."""


@dataclass
class Camera:
    """One calibrated camera; ``kind`` is ``mono``, ``rgb`` or ``depth``."""

    name: str
    width: int
    height: int
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    kind: str = "mono"
    extra: dict = field(default_factory=dict)

    @property
    def centre(self) -> np.ndarray:
        """Camera centre in the rig frame (mm)."""
        return -self.R.T @ self.t

    @property
    def axis(self) -> np.ndarray:
        """The optical axis (unit vector) in the rig frame."""
        return self.R[2]

    @property
    def registered_to(self) -> str | None:
        """For a depth camera registered to a colour one: that camera's name."""
        return self.extra.get("registered_to")

    def extrinsic(self) -> np.ndarray:
        """4x4 rig -> camera."""
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self.R, self.t
        return T

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) rig points -> (N, 2) distorted pixels."""
        import cv2

        rvec, _ = cv2.Rodrigues(self.R)
        px, _ = cv2.projectPoints(np.asarray(points, np.float64), rvec, self.t.astype(np.float64), self.K, self.dist)
        return px.reshape(-1, 2)

    def scaled(self, width: int, height: int) -> Camera:
        """The same camera at another resolution (same field of view): test-sized renders."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()  # pixel centres stay pixel centres: x' = (x + 0.5) * s - 0.5
        K[0, 0], K[0, 2] = K[0, 0] * sx, (K[0, 2] + 0.5) * sx - 0.5
        K[1, 1], K[1, 2] = K[1, 1] * sy, (K[1, 2] + 0.5) * sy - 0.5
        return Camera(self.name, width, height, K, self.dist.copy(), self.R, self.t, self.kind, dict(self.extra))

    def to_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "kind": self.kind,
            "K": self.K.tolist(),
            "dist": self.dist.tolist(),
            "R": self.R.tolist(),
            "t_mm": self.t.tolist(),
            **self.extra,
        }

    @classmethod
    def from_json(cls, name: str, body: Any) -> Camera:
        """A camera of a JSON file; a missing or malformed field raises ``CameraFileError`` naming it."""
        if not isinstance(body, dict):
            raise CameraFileError(f"camera {name!r}: not an object")
        missing = [k for k in ("width", "height", "K", "dist", "R", "t_mm") if k not in body]
        if missing:
            raise CameraFileError(f"camera {name!r}: no {missing[0]!r}")
        try:
            width, height = int(body["width"]), int(body["height"])
            K, dist = np.asarray(body["K"], np.float64), np.asarray(body["dist"], np.float64).ravel()
            R, t = np.asarray(body["R"], np.float64), np.asarray(body["t_mm"], np.float64).ravel()
        except (TypeError, ValueError) as e:
            raise CameraFileError(f"camera {name!r}: a field is not a number or matrix ({e})") from None
        for key, arr, shape in (("K", K, (3, 3)), ("R", R, (3, 3)), ("t_mm", t, (3,))):
            if arr.shape != shape or not np.all(np.isfinite(arr)):
                raise CameraFileError(f"camera {name!r}: {key!r} must be {shape} finite numbers, got shape {arr.shape}")
        if dist.size not in (4, 5, 8, 12, 14) or not np.all(np.isfinite(dist)):
            raise CameraFileError(f"camera {name!r}: 'dist' must hold 4, 5, 8, 12 or 14 finite OpenCV coefficients")
        if width <= 0 or height <= 0:
            raise CameraFileError(f"camera {name!r}: width and height must be positive, got {width}x{height}")
        extra = {k: v for k, v in body.items() if k not in _KNOWN}
        return cls(name, width, height, K, dist, R, t, str(body.get("kind", "mono")), extra)


def cameras_from_json(body: Any) -> dict[str, Camera]:
    """``{name: Camera}`` of a cameras.json / rig.json body."""
    cams = body.get("cameras") if isinstance(body, dict) else None
    if not isinstance(cams, dict):
        raise CameraFileError("no 'cameras' object in this calibration file")
    return {name: Camera.from_json(name, c) for name, c in cams.items()}


def cameras_to_json(cameras: dict[str, Camera]) -> dict[str, dict]:
    """The ``cameras`` object of a cameras.json / rig.json body."""
    return {name: c.to_json() for name, c in cameras.items()}
