"""A moving test pattern whose first 8 bytes carry the frame number (for integrity checks)."""

from __future__ import annotations

import numpy as np


def stamp(frame: np.ndarray, seq: int) -> np.ndarray:
    """Write ``seq`` as little-endian uint64 into the first 8 bytes of ``frame`` (in place)."""
    frame.reshape(-1).view(np.uint8)[:8] = np.frombuffer(np.uint64(seq).tobytes(), np.uint8)
    return frame


def read_stamp(frame: np.ndarray) -> int:
    return int(np.ascontiguousarray(frame).reshape(-1).view(np.uint8)[:8].view("<u8")[0])


class MovingPattern:
    """Diagonal bars and a gradient scrolling by a few pixels per frame, plus sensor noise.

    Frames are slices of one precomputed strip, so a frame costs one copy.
    """

    def __init__(
        self, height: int, width: int, channels: int = 1, dtype=np.uint8, step_px: int = 4, seed: int = 0
    ) -> None:
        rng = np.random.default_rng(seed)
        self.period = 256
        self.step = step_px
        self.width = width
        y, x = np.mgrid[0:height, 0 : width + self.period]
        bars = ((x + y) // 32 % 2) * 96
        grad = y * 128 // max(height, 1)
        base = (bars + grad + 16).astype(np.float32)
        if dtype == np.uint16:  # a depth-like ramp in mm
            base = 600.0 + base * 4
        if channels > 1:
            base = np.stack([np.roll(base, 40 * c, axis=1) for c in range(channels)], axis=-1)
        noise = rng.normal(0, 2.0, size=base.shape).astype(np.float32)
        info = np.iinfo(dtype)
        self.strip = np.clip(base + noise, info.min, info.max).astype(dtype)

    def frame(self, seq: int) -> np.ndarray:
        s = (seq * self.step) % self.period
        out = np.ascontiguousarray(self.strip[:, s : s + self.width])
        return stamp(out, seq)
