"""Audio/video alignment of a clip with sync marks (democlips ``marks=True``): beeps vs flashes.

The sound is decoded and resampled exactly as the player does (s16 stereo, 48 kHz) and timed
by counting samples from the first audio frame, as the player's audio clock does; the picture is
timed by frame pts.  Each whole second has a beep and a flash: their difference is the drift.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mestudio.elicit.audio_out import RATE
from mestudio.elicit.democlips import BEEP_S, MARK_PX


def beep_onsets(mono: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Sample indices where a 1 kHz beep starts (envelope crosses half its peak upwards)."""
    x = mono.astype(np.float32)
    win = max(8, int(rate * 0.005))
    env = np.convolve(np.abs(x), np.ones(win) / win, mode="same")
    loud = env > 0.5 * env.max()
    on = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1  # a centred average is at half height on the onset
    keep = np.concatenate([[True], np.diff(on) > rate * BEEP_S * 2]) if len(on) else on.astype(bool)
    return on[keep]


def measure_file(path: str | Path) -> dict:
    """Flash times (video pts) and beep times (sample-counted audio clock) of a marks clip."""
    import av

    flashes: list[float] = []
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            patch = f.to_ndarray(format="rgb24")[: MARK_PX // 2, : MARK_PX // 2]
            if patch.mean() > 200:
                flashes.append(float(f.time))
    chunks, t0 = [], None
    with av.open(str(path)) as c:
        rs = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
        for a in c.decode(c.streams.audio[0]):
            if t0 is None:
                t0 = float(a.time or 0.0)
            chunks += [r.to_ndarray().reshape(-1, 2)[:, 0] for r in rs.resample(a)]
        chunks += [r.to_ndarray().reshape(-1, 2)[:, 0] for r in rs.resample(None)]
    mono = np.concatenate(chunks)
    beeps = (t0 or 0.0) + beep_onsets(mono) / RATE
    return {"flashes_s": np.array(flashes), "beeps_s": beeps, "audio_s": len(mono) / RATE}


def pair_drift(flashes: np.ndarray, beeps: np.ndarray) -> np.ndarray:
    """beep - flash for each flash, pairing each with the nearest beep (seconds)."""
    if not len(flashes) or not len(beeps):
        return np.array([])
    idx = np.clip(np.searchsorted(beeps, flashes), 1, len(beeps) - 1)
    left, right = beeps[idx - 1], beeps[idx]
    nearest = np.where(np.abs(flashes - left) < np.abs(right - flashes), left, right)
    return nearest - flashes
