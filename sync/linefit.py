"""Fitting a clock line under one-sided jitter.

Arrival delays are never negative: a frame reaches the host after it was made, plus a queueing
delay that varies.  The frames that travelled fastest therefore lie on a straight line below all
the others (offset + drift), and the best estimate of the clock line is the supporting line of
the *lower convex hull* of (device time, arrival - device time) at the centre of the data -- the
estimator NTP-style clock-skew work uses (Moon, Skelly & Towsley 1999).  A least-squares fit
through the middle instead is biased by the mean delay and wobbles with it.

A few points far *below* the rest cannot be transport delays (a host clock step, a mis-stamped
frame); they are dropped first, with a median/MAD rule, so one bad point cannot tilt the line.
"""

from __future__ import annotations

import numpy as np

from mestudio.sync.errors import NotEnoughDataError


def lower_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the lower convex hull of points sorted by ``x`` (monotone chain)."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            # keep a only if o -> a -> i turns left (counter-clockwise)
            if (x[a] - x[o]) * (y[i] - y[o]) - (y[a] - y[o]) * (x[i] - x[o]) <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.asarray(hull, dtype=np.int64)


def _hull_candidates(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the convex hull's vertices (qhull, in C), a superset of the lower hull.

    The monotone chain is pure Python; running it on the hull vertices alone keeps hour-long
    recordings fast and exact.  Coordinates are scaled to [0, 1] first (an affine map keeps the
    hull) because device times in ns and offsets in ns differ by orders of magnitude.
    """
    n = len(x)
    if n <= 2048:
        return np.arange(n)
    from scipy.spatial import ConvexHull, QhullError

    xs = (x - x[0]) / (x[-1] - x[0])
    span = float(np.ptp(y)) or 1.0
    ys = (y - y.min()) / span
    try:
        v = ConvexHull(np.column_stack([xs, ys])).vertices
    except QhullError:  # all points on one line: every point is a candidate
        return np.arange(n)
    return np.sort(v)


def robust_keep(x: np.ndarray, y: np.ndarray, k: float = 8.0) -> np.ndarray:
    """Mask of points that are not impossibly early (far below a robust line through the rest)."""
    if len(x) < 8:
        return np.ones(len(x), bool)
    b, a = np.polyfit(x, y, 1)
    r = y - (a + b * x)
    med = np.median(r)
    mad = np.median(np.abs(r - med)) * 1.4826 + 1e-9
    inl = np.abs(r - med) < 5 * mad
    if inl.sum() >= 4:
        b, a = np.polyfit(x[inl], y[inl], 1)
        r = y - (a + b * x)
        med = np.median(r)
        mad = np.median(np.abs(r - med)) * 1.4826 + 1e-9
    return r > med - k * mad - 1e-3 * np.abs(med)


def fit_lower_line(x: np.ndarray, y: np.ndarray, slope_hint: float | None = None) -> tuple[float, float]:
    """(intercept, slope) of the supporting line of the lower hull at the mean of ``x``.

    ``x`` must be increasing.  With one distinct x the slope is ``slope_hint`` (or 0) and the line
    passes through the lowest point.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(x) == 0:
        raise NotEnoughDataError("fit_lower_line needs at least one point")
    keep = robust_keep(x, y)
    x, y = x[keep], y[keep]
    if len(x) < 2 or x[-1] - x[0] <= 0:
        b = slope_hint or 0.0
        a = float(np.min(y - b * x))
        return a, b
    cand = _hull_candidates(x, y)
    h = cand[lower_hull(x[cand], y[cand])]
    xm = float(np.mean(x))
    hx, hy = x[h], y[h]
    j = int(np.searchsorted(hx, xm, side="right"))
    j = min(max(j, 1), len(hx) - 1)
    b = float((hy[j] - hy[j - 1]) / (hx[j] - hx[j - 1]))
    a = float(hy[j - 1] - b * hx[j - 1])
    return a, b
