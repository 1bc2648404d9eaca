"""Eulerian video magnification (Wu et al. 2012), the optional step that makes subtle ME motion
larger (the study's reference [34]). Each frame's Laplacian pyramid is band-passed in time
(ideal filter on the clip's FFT) and the band is added back amplified; the amplification is
reduced at fine levels, as the paper's spatial cut-off lambda_c prescribes, to avoid artefacts.
"""

from __future__ import annotations

import numpy as np


def _laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    import cv2

    out, cur = [], img
    for _ in range(levels):
        down = cv2.pyrDown(cur)
        up = cv2.pyrUp(down, dstsize=(cur.shape[1], cur.shape[0]))
        out.append(cur - up)
        cur = down
    out.append(cur)
    return out


def _collapse(pyr: list[np.ndarray]) -> np.ndarray:
    import cv2

    cur = pyr[-1]
    for lap in reversed(pyr[:-1]):
        cur = cv2.pyrUp(cur, dstsize=(lap.shape[1], lap.shape[0])) + lap
    return cur


def magnify(
    clip: np.ndarray,
    fps: float,
    alpha: float = 10.0,
    low_hz: float = 0.4,
    high_hz: float = 3.0,
    levels: int = 4,
    lambda_c: float = 16.0,
) -> np.ndarray:
    """Motion-magnified copy of a (T, H, W) grayscale clip; dtype kept."""
    if not 0 <= low_hz < high_hz:
        raise ValueError(f"need 0 <= low_hz < high_hz, got {low_hz}, {high_hz}")
    x = np.asarray(clip, np.float32)
    t = x.shape[0]
    pyrs = [_laplacian_pyramid(f, levels) for f in x]
    freqs = np.fft.rfftfreq(t, d=1.0 / fps)
    band = ((freqs >= low_hz) & (freqs <= high_hz)).astype(np.float32)
    h, w = x.shape[1:3]
    delta = lambda_c / 8.0 / (1 + alpha)
    out_pyrs = [list(p) for p in pyrs]
    for lv in range(levels + 1):
        stack = np.stack([p[lv] for p in pyrs])
        filt = np.fft.irfft(np.fft.rfft(stack, axis=0) * band[:, None, None], n=t, axis=0)
        wavelength = np.sqrt(h * h + w * w) / (2**lv) / 3.0
        a = min(alpha, wavelength / delta / 8.0 - 1.0) if lv < levels else alpha
        a = max(0.0, a) if lv > 0 else 0.0  # finest level left alone: noise
        for i in range(t):
            out_pyrs[i][lv] = pyrs[i][lv] + a * filt[i]
    out = np.stack([_collapse(p) for p in out_pyrs])
    if np.issubdtype(np.asarray(clip).dtype, np.integer):
        return np.clip(np.rint(out), 0, 255).astype(np.asarray(clip).dtype)
    return out.astype(np.asarray(clip).dtype)
