"""Turning one received frame into something to draw: decimated, 8-bit, depth as colours.

Plain numpy, no Qt.  Decimation is a strided view (no filtering): the monitor is for watching,
the recording keeps every pixel.  Only the displayed pixels are converted, so a 1600x1200 frame
costs a 400x300 conversion.
"""

from __future__ import annotations

import numpy as np

DEPTH_FORMATS = ("depth16", "z16")
AUDIO_FORMATS = ("s16le", "s32le", "f32le")

# Turbo-like control points (position, r, g, b): near is warm, far is cool, 0 (no depth) is black.
_DEPTH_STOPS = np.array(
    [
        (0.00, 122, 4, 3),
        (0.15, 249, 94, 26),
        (0.35, 226, 220, 56),
        (0.55, 100, 253, 106),
        (0.75, 27, 207, 212),
        (1.00, 48, 18, 59),
    ],
    dtype=np.float64,
)


def _depth_lut() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(x, _DEPTH_STOPS[:, 0], _DEPTH_STOPS[:, c]) for c in (1, 2, 3)], axis=1)
    return lut.round().astype(np.uint8)


DEPTH_LUT = _depth_lut()


def media_of(pixel_format: str, shape: tuple[int, ...]) -> str:
    """ "video", "depth", "audio" or "signal" (an LSL stream: capture/lsl.py), from what the header says."""
    if pixel_format.startswith("lsl-"):  # EEG samples or marker strings: neither a picture nor a sound
        return "signal"
    if pixel_format in AUDIO_FORMATS:
        return "audio"
    if pixel_format in DEPTH_FORMATS:
        return "depth"
    if len(shape) in (2, 3) and min(shape[:2]) >= 16:
        return "video"
    return "audio" if len(shape) <= 2 else "other"


def decimation(shape: tuple[int, ...], max_side: int = 400) -> int:
    """The stride that brings the longer image side to at most ``max_side`` pixels."""
    side = max(shape[:2]) if len(shape) >= 2 else 1
    return max(1, -(-side // max_side))


def depth_colors(depth: np.ndarray, near_mm: float = 300.0, far_mm: float = 4500.0) -> np.ndarray:
    """uint16 depth in mm -> RGB uint8; 0 (no measurement) stays black."""
    d = depth.astype(np.float32)
    idx = np.clip((d - near_mm) * (255.0 / (far_mm - near_mm)), 0, 255).astype(np.uint8)
    rgb = DEPTH_LUT[idx]
    rgb[depth == 0] = 0
    return rgb


def depth_range(depth: np.ndarray) -> tuple[float, float]:
    """Near and far limits for the colour map: the 2nd and 98th percentile of valid depth."""
    valid = depth[depth > 0]
    if valid.size < 16:
        return 300.0, 4500.0
    lo, hi = np.percentile(valid[:: max(1, valid.size // 4096)], [2, 98])
    return float(lo), float(max(hi, lo + 10.0))


def to_display(
    frame: np.ndarray, pixel_format: str, step: int, depth_limits: tuple[float, float] | None = None
) -> np.ndarray:
    """A decimated uint8 image, (H, W) grey or (H, W, 3) RGB, for one video or depth frame."""
    img = frame[::step, ::step]
    if pixel_format in DEPTH_FORMATS:
        near, far = depth_limits or depth_range(img)
        return depth_colors(img, near, far)
    if pixel_format == "bgr8" and img.ndim == 3:
        img = img[..., ::-1]
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    if np.issubdtype(img.dtype, np.integer):  # mono12/16 cameras: keep the top 8 bits
        shift = max(0, np.iinfo(img.dtype).bits - 8)
        return np.ascontiguousarray((img >> shift).astype(np.uint8))
    f = img.astype(np.float32)
    lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
    return ((f - lo) * (255.0 / max(hi - lo, 1e-9))).astype(np.uint8)


def audio_level_dbfs(block: np.ndarray) -> float:
    """RMS level of an audio block in dB relative to full scale (-120 for silence)."""
    x = block.astype(np.float64)
    if np.issubdtype(block.dtype, np.integer):
        x /= float(np.iinfo(block.dtype).max)
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    return max(-120.0, 20.0 * np.log10(rms)) if rms > 0 else -120.0
