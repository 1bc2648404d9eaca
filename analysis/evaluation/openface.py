"""Per-frame AU intensities against another tool's per-frame output (OpenFace 2, Py-Feat CSVs).

Both tables use OpenFace 2's columns (``frame``, ``success``, ``AUxx_r``); frames are matched by
their 1-based number, and only frames both tools tracked (``success`` 1) count.  The figure is
Pearson's r per AU both estimate; an AU constant in either table over the clip has no r (None).
A covariate (the frame's brightness) says how much of a reference AU follows the light
(``covariate_r``) and what agreement is left once both tables have it taken out (``partial_r``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mestudio.analysis.analyzer.errors import GroundTruthError

BROWS = (1, 2, 4)


def read_au_table(path: str | Path):
    """An OpenFace-style CSV (OpenFace writes ", " between columns) as a pandas DataFrame."""
    import pandas as pd

    try:
        t = pd.read_csv(path, skipinitialspace=True)
    except (OSError, ValueError) as e:
        raise GroundTruthError(f"{path}: not a readable CSV ({e})") from e
    if "frame" not in t.columns or not any(c.endswith("_r") and c.startswith("AU") for c in t.columns):
        raise GroundTruthError(f"{path}: no frame and AUxx_r columns (not an OpenFace-style table)")
    return t


def per_au_r(ours, theirs) -> dict[int, float | None]:
    """Pearson r per AU both tables estimate (intensity columns), over frames both tracked."""
    cols = [c for c in ours.columns if c.startswith("AU") and c.endswith("_r") and c in theirs.columns]
    m = ours.merge(theirs, on="frame", suffixes=("", "_ref"))
    for s in ("success", "success_ref"):
        if s in m.columns:
            m = m[m[s] == 1]
    out: dict[int, float | None] = {}
    for c in cols:
        a, b = m[c].to_numpy(float), m[c + "_ref"].to_numpy(float)
        ok = len(a) > 2 and a.std() > 1e-9 and b.std() > 1e-9
        out[int(c[2:4])] = round(float(np.corrcoef(a, b)[0, 1]), 3) if ok else None
    return out


def summary(r: dict[int, float | None]) -> dict:
    """Mean r over the AUs with an r, and over the brow AUs (1, 2, 4)."""
    vals = [v for v in r.values() if v is not None]
    brows = [v for a, v in r.items() if a in BROWS and v is not None]
    return {
        "mean_r": round(float(np.mean(vals)), 3) if vals else None,
        "brow_mean_r": round(float(np.mean(brows)), 3) if brows else None,
        "aus_compared": len(vals),
    }


def _residual(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """What of ``v`` a straight line in ``x`` does not explain."""
    design = np.column_stack([np.ones_like(x), x])
    return v - design @ np.linalg.lstsq(design, v, rcond=None)[0]


def covariate_r(theirs, covariate: dict[int, float]) -> dict[int, float | None]:
    """Pearson r of each of their AUs with a per-frame covariate (frame -> value; e.g. the
    frame's mean brightness): how much of the reference follows something that is not the face."""
    t = theirs[theirs["success"] == 1] if "success" in theirs.columns else theirs
    x = t["frame"].map(covariate).to_numpy(float)
    out: dict[int, float | None] = {}
    for c in [c for c in t.columns if c.startswith("AU") and c.endswith("_r")]:
        b = t[c].to_numpy(float)
        ok = ~np.isnan(x)
        good = ok.sum() > 2 and b[ok].std() > 1e-9 and x[ok].std() > 1e-9
        out[int(c[2:4])] = round(float(np.corrcoef(b[ok], x[ok])[0, 1]), 3) if good else None
    return out


def partial_r(ours, theirs, covariate: dict[int, float]) -> dict[int, float | None]:
    """Pearson r per AU after a straight line in the covariate is taken out of both tables: the
    agreement that is not both following, say, the light."""
    cols = [c for c in ours.columns if c.startswith("AU") and c.endswith("_r") and c in theirs.columns]
    m = ours.merge(theirs, on="frame", suffixes=("", "_ref"))
    for s in ("success", "success_ref"):
        if s in m.columns:
            m = m[m[s] == 1]
    x = m["frame"].map(covariate).to_numpy(float)
    m, x = m[~np.isnan(x)], x[~np.isnan(x)]
    out: dict[int, float | None] = {}
    for c in cols:
        a, b = m[c].to_numpy(float), m[c + "_ref"].to_numpy(float)
        if len(a) <= 3 or a.std() < 1e-9 or b.std() < 1e-9:
            out[int(c[2:4])] = None
            continue
        ra, rb = _residual(a, x), _residual(b, x)
        ok = ra.std() > 1e-9 and rb.std() > 1e-9
        out[int(c[2:4])] = round(float(np.corrcoef(ra, rb)[0, 1]), 3) if ok else None
    return out
