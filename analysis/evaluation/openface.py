"""Per-frame AU intensities against another tool's per-frame output (OpenFace 2, Py-Feat CSVs).

Both tables use OpenFace 2's columns (``frame``, ``success``, ``AUxx_r``); frames are matched by
their 1-based number, and only frames both tools tracked (``success`` 1) count.  The figure is
Pearson's r per AU both estimate; an AU constant in either table over the clip has no r (None).
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
