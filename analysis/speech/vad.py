"""Voice activity detection, causal and training-free: energy over an adaptive noise floor.

The signal is cut into 20 ms frames.  A frame is voiced when its level in the voice band
(``BAND_HZ``: where the first formants of speech sit; mains hum, a fan or a door's thump lie
mostly below it) is ``margin_db`` above that band's noise floor (and, optionally, the band holds
at least ``band_fraction`` of the frame's energy: off by default, a loud hum would veto quiet
syllables).  The noise floor follows the quietest frames (the 10th percentile of the last
``floor_s``), so it adapts to the room.  Speech is voiced frames bridged over gaps of
``hangover_s`` (the pauses between syllables) and lasting at least ``min_s``; the segments are
closed causally, ``hangover_s`` after the voice stops.
"""

from __future__ import annotations

from collections import deque

import numpy as np

FRAME_S = 0.02
BAND_HZ = (250.0, 3500.0)


class VoiceActivity:
    """Feed blocks of samples with the time of their first sample; returns closed speech segments."""

    def __init__(
        self,
        rate: int,
        margin_db: float = 12.0,
        band_fraction: float = 0.0,
        floor_s: float = 10.0,
        hangover_s: float = 0.35,
        min_s: float = 0.15,
        min_level_db: float = -70.0,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"sample rate {rate}: must be above 0")
        self.rate = rate
        self.n = max(16, int(round(FRAME_S * rate)))
        self.margin_db, self.band_fraction, self.min_level_db = margin_db, band_fraction, min_level_db
        self.hang = max(1, int(round(hangover_s / FRAME_S)))
        self.min_frames = max(1, int(round(min_s / FRAME_S)))
        self._levels: deque[float] = deque(maxlen=max(10, int(floor_s / FRAME_S)))
        freqs = np.fft.rfftfreq(self.n, 1.0 / rate)
        self._band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
        self._window = np.hanning(self.n)
        self._buf = np.zeros(0, np.float64)
        self._t_buf = 0.0  # time of _buf[0]
        self._start: float | None = None  # speech segment under way
        self._last_voiced: float | None = None
        self._voiced_frames = 0
        self._since_voice = 0
        self.voiced_frames = 0
        self.frames = 0

    def push(self, samples: np.ndarray, t0: float) -> list[tuple[float, float]]:
        """Samples (any shape; channel 0 of a 2-D block) starting at time ``t0`` (s)."""
        x = np.asarray(samples)
        if x.ndim == 2:
            x = x[:, 0]
        scale = 32768.0 if x.dtype == np.int16 else 1.0
        x = x.astype(np.float64) / scale
        if len(self._buf) == 0:
            self._t_buf = t0
        self._buf = np.concatenate([self._buf, x])
        out: list[tuple[float, float]] = []
        while len(self._buf) >= self.n:
            frame, self._buf = self._buf[: self.n], self._buf[self.n :]
            t = self._t_buf
            self._t_buf += self.n / self.rate
            out += self._frame(frame, t)
        return out

    @property
    def open_segment(self) -> tuple[float, float] | None:
        """The speech segment under way so far (start, last voiced time), or None."""
        if self._start is None or self._voiced_frames < self.min_frames:
            return None
        assert self._last_voiced is not None  # set with the segment's first voiced frame
        return (self._start, self._last_voiced)

    def flush(self) -> list[tuple[float, float]]:
        """End of the audio: close a segment under way."""
        if self._start is None:
            return []
        return self._close()

    def _frame(self, frame: np.ndarray, t: float) -> list[tuple[float, float]]:
        self.frames += 1
        spec = np.abs(np.fft.rfft(frame * self._window)) ** 2
        total = float(spec.sum()) + 1e-20
        band = float(spec[self._band].sum())
        # the band's share of the frame's mean square (Parseval, Hann window's power)
        level = 10 * np.log10(float(np.mean(frame**2)) * band / total + 1e-12)
        self._levels.append(level)
        floor = float(np.percentile(self._levels, 10)) if len(self._levels) >= 10 else level
        voiced = level > floor + self.margin_db and level > self.min_level_db and band / total >= self.band_fraction
        self.voiced_frames += voiced
        out: list[tuple[float, float]] = []
        if voiced:
            if self._start is None:
                self._start, self._voiced_frames = t, 0
            self._voiced_frames += 1
            self._last_voiced = t + FRAME_S
            self._since_voice = 0
        elif self._start is not None:
            self._since_voice += 1
            if self._since_voice > self.hang:
                out += self._close()
        return out

    def _close(self) -> list[tuple[float, float]]:
        assert self._start is not None and self._last_voiced is not None  # only called with a segment under way
        seg = (self._start, self._last_voiced)
        keep = self._voiced_frames >= self.min_frames
        self._start, self._voiced_frames, self._since_voice = None, 0, 0
        return [seg] if keep else []


def voice_segments(samples: np.ndarray, rate: int, t0: float = 0.0, **kw) -> list[tuple[float, float]]:
    """Speech segments (start, end) in seconds of a whole recording."""
    v = VoiceActivity(rate, **kw)
    return v.push(samples, t0) + v.flush()
