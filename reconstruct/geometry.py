"""Cameras of a calibration file, and how they pair into stereo pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Cam:
    name: str
    width: int
    height: int
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    registered_to: str | None = None

    @property
    def centre(self) -> np.ndarray:
        return -self.R.T @ self.t

    @property
    def axis(self) -> np.ndarray:
        return self.R[2]

    def extrinsic(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self.R, self.t
        return T


def cams_of(calib: dict) -> dict[str, Cam]:
    out = {}
    for name, c in calib["cameras"].items():
        out[name] = Cam(
            name,
            int(c["width"]),
            int(c["height"]),
            np.asarray(c["K"], np.float64),
            np.asarray(c["dist"], np.float64),
            np.asarray(c["R"], np.float64),
            np.asarray(c["t_mm"], np.float64),
            c.get("registered_to"),
        )
    return out


def stereo_pairs(cams: dict[str, Cam], names: list[str]) -> list[tuple[str, str]]:
    """Mutually nearest cameras (by centre) among ``names``, each pair ordered left, right in the
    pair's own view (the right camera lies along the left one's +x)."""
    left = sorted(names)
    pairs = []
    while len(left) >= 2:
        best: tuple[float, str, str] | None = None
        for i, a in enumerate(left):
            for b in left[i + 1 :]:
                d = np.linalg.norm(cams[a].centre - cams[b].centre)
                if best is None or d < best[0]:
                    best = (float(d), a, b)
        assert best is not None  # at least two names are left
        _, a, b = best
        left.remove(a)
        left.remove(b)
        # b's centre seen from a: on a's right (+x) keeps the order
        if (cams[a].R @ cams[b].centre + cams[a].t)[0] < 0:
            a, b = b, a
        pairs.append((a, b))
    return sorted(pairs)


def convergence_point(cams: list[Cam]) -> np.ndarray:
    """The point closest to every camera's optical axis (least squares): where the rig looks."""
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for c in cams:
        d = c.axis / np.linalg.norm(c.axis)
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ c.centre
    return np.linalg.solve(A, b)
