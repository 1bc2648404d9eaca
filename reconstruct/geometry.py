"""How a calibration's cameras (stream/cameras.py) pair into stereo pairs, and where the rig looks."""

from __future__ import annotations

import numpy as np

from mestudio.stream.cameras import Camera


def stereo_pairs(cams: dict[str, Camera], names: list[str]) -> list[tuple[str, str]]:
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


def convergence_point(cams: list[Camera]) -> np.ndarray:
    """The point closest to every camera's optical axis (least squares): where the rig looks."""
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for c in cams:
        d = c.axis / np.linalg.norm(c.axis)
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ c.centre
    return np.linalg.solve(A, b)
