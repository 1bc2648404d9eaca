"""A numpy z-buffer rasterizer for orthographic views: per-pixel depth and interpolated vertex
attributes. Pixel (r, c) samples the point (c + 0.5, r + 0.5) of image space; a triangle covers a
pixel when that point lies inside it (edge functions), its depth and attributes are the
barycentric blend of its corners, and the nearest surface (largest z) wins.

Vectorised over (triangle, candidate pixel) pairs in chunks, so memory stays bounded for large
images; no GPU or display needed.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 2_000_000  # candidate pixels per pass


def rasterize(
    uv: np.ndarray, z: np.ndarray, triangles: np.ndarray, attrs: np.ndarray | None, height: int, width: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """(depth (H, W) float64, NaN where empty; attributes (H, W, K) float32 or None).

    ``uv``: (N, 2) image coordinates (column, row) of the vertices; ``z``: (N,) depth, larger is
    nearer; ``attrs``: (N, K) per-vertex values to interpolate.
    """
    uv = np.asarray(uv, np.float64)
    z = np.asarray(z, np.float64)
    tri = np.asarray(triangles, np.int64)
    k = 0 if attrs is None else np.asarray(attrs).shape[1]
    zbuf = np.full(height * width, -np.inf)
    abuf = None if attrs is None else np.zeros((height * width, k), np.float32)
    if len(tri) == 0:
        return np.full((height, width), np.nan), None if abuf is None else abuf.reshape(height, width, k)
    p = uv[tri]  # (M, 3, 2)
    c0 = np.clip(np.ceil(p[..., 0].min(axis=1) - 0.5), 0, width).astype(np.int64)
    c1 = np.clip(np.floor(p[..., 0].max(axis=1) - 0.5), -1, width - 1).astype(np.int64)
    r0 = np.clip(np.ceil(p[..., 1].min(axis=1) - 0.5), 0, height).astype(np.int64)
    r1 = np.clip(np.floor(p[..., 1].max(axis=1) - 0.5), -1, height - 1).astype(np.int64)
    w = np.maximum(0, c1 - c0 + 1)
    h = np.maximum(0, r1 - r0 + 1)
    n = w * h
    # twice the signed area; degenerate (edge-on) triangles cover nothing
    e = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    area = e[0][:, 0] * e[1][:, 1] - e[0][:, 1] * e[1][:, 0]
    live = np.flatnonzero((n > 0) & (np.abs(area) > 1e-12))
    if len(live) == 0:
        return np.full((height, width), np.nan), None if abuf is None else abuf.reshape(height, width, k)
    # chunks of triangles whose candidate counts add up to about _CHUNK
    chunk_of = (np.cumsum(n[live]) - 1) // _CHUNK
    for sel in np.split(live, np.flatnonzero(np.diff(chunk_of)) + 1):
        counts = n[sel]
        t = np.repeat(sel, counts)
        local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        cc = c0[t] + local % w[t]
        rr = r0[t] + local // w[t]
        px, py = cc + 0.5, rr + 0.5
        a, b, c = p[t, 0], p[t, 1], p[t, 2]
        # barycentric weights of the pixel centre
        l1 = ((px - a[:, 0]) * (c[:, 1] - a[:, 1]) - (py - a[:, 1]) * (c[:, 0] - a[:, 0])) / area[t]
        l2 = ((b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (b[:, 1] - a[:, 1]) * (px - a[:, 0])) / area[t]
        l0 = 1.0 - l1 - l2
        eps = -1e-9
        inside = (l0 >= eps) & (l1 >= eps) & (l2 >= eps)
        if not inside.any():
            continue
        t, l0, l1, l2 = t[inside], l0[inside], l1[inside], l2[inside]
        pix = rr[inside] * width + cc[inside]
        zt = z[tri[t]]
        depth = l0 * zt[:, 0] + l1 * zt[:, 1] + l2 * zt[:, 2]
        np.maximum.at(zbuf, pix, depth)
        win = depth >= zbuf[pix]
        if abuf is not None:
            at = np.asarray(attrs, np.float32)[tri[t[win]]]  # (W, 3, K)
            abuf[pix[win]] = l0[win, None] * at[:, 0] + l1[win, None] * at[:, 1] + l2[win, None] * at[:, 2]
    depth = np.where(np.isfinite(zbuf), zbuf, np.nan).reshape(height, width)
    return depth, None if abuf is None else abuf.reshape(height, width, k)
