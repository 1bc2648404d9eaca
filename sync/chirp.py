"""The audible sync pattern: a short linear chirp, and a matched filter that finds it.

A chirp sweeping 2-8 kHz in 50 ms has a sharp autocorrelation (main lobe about 1/6 ms), is
easy to hear on the microphone track and unlike speech or room noise.  The detector correlates
the recorded samples with the template (FFT, in overlapping chunks so hour-long tracks stay in
memory), normalises by the local energy (score 1 = a perfect copy at any loudness), and refines
every peak to a fraction of a sample by band-limited interpolation of the correlation around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChirpSpec:
    rate: int = 48000
    f0_hz: float = 2000.0
    f1_hz: float = 8000.0
    duration_s: float = 0.05
    amplitude: float = 0.5  # of full scale


@dataclass(frozen=True)
class Detection:
    sample: float  # position of the chirp's first sample, sub-sample precision
    score: float  # normalised correlation, 0..1


def chirp_wave(spec: ChirpSpec, delay_samples: float = 0.0, length: int | None = None) -> np.ndarray:
    """The chirp (float, +-amplitude) starting ``delay_samples`` (may be fractional) into the output."""
    n = int(round(spec.duration_s * spec.rate))
    length = n + int(np.ceil(delay_samples)) + 1 if length is None else length
    t = (np.arange(length) - delay_samples) / spec.rate
    inside = (t >= 0) & (t < spec.duration_s)
    k = (spec.f1_hz - spec.f0_hz) / spec.duration_s
    phase = 2 * np.pi * (spec.f0_hz * t + 0.5 * k * t * t)
    # a Tukey taper so the onset and end do not click (clicks are broadband and fool the filter)
    edge = 0.1 * spec.duration_s
    env = np.clip(np.minimum(t, spec.duration_s - t) / edge, 0, 1)
    env = 0.5 - 0.5 * np.cos(np.pi * env)
    return np.where(inside, spec.amplitude * env * np.sin(phase), 0.0)


def template(spec: ChirpSpec) -> np.ndarray:
    return chirp_wave(spec, 0.0, int(round(spec.duration_s * spec.rate)))


def plant(signal: np.ndarray, spec: ChirpSpec, at_sample: float) -> None:
    """Add a chirp to a float signal in place, starting at (fractional) sample ``at_sample``."""
    start = int(np.floor(at_sample))
    n = int(round(spec.duration_s * spec.rate)) + 2
    end = min(len(signal), start + n)
    if end > start:
        signal[start:end] += chirp_wave(spec, at_sample - start, end - start)


def warm_up(spec: ChirpSpec) -> None:
    """Pay the detector's first-call costs (scipy.signal's import: over a second on a busy host) now.

    A live node that paces triggers calls this before it reports ready: paid on the first scan
    instead, the cost stalled the trigger loop and the cameras lost a second of frames."""
    detect(np.zeros(2 * len(template(spec)), np.int16), spec)


def _correlate(x: np.ndarray, tpl: np.ndarray) -> np.ndarray:
    """c[i] = sum_j x[i + j] * tpl[j] for every full overlap (FFT)."""
    from scipy.signal import fftconvolve

    return fftconvolve(x, tpl[::-1], mode="valid")


def _refine(x: np.ndarray | _Scaled, tpl: np.ndarray, i: int, up: int = 64, half: int = 24) -> float:
    """Sub-sample peak position near integer lag ``i`` by band-limited interpolation."""
    from scipy.signal import resample

    lo, hi = i - half, i + half + 1
    # a symmetric window around the peak, zero-padded past the track's ends (a chirp at the very
    # start or end of a recording must not be refined on a lopsided window)
    n = hi - lo + len(tpl) - 1
    seg = np.zeros(n)
    a, b = max(lo, 0), min(lo + n, len(x))
    if b > a:
        seg[a - lo : b - lo] = x[a:b]
    c = _correlate(seg, tpl)
    fine = resample(c * np.hanning(len(c) + 2)[1:-1], len(c) * up)
    # only the middle of the window is free of the resampling's edge effects
    m0 = (i - lo - 2) * up
    m1 = (i - lo + 3) * up
    m0, m1 = max(m0, 0), min(m1, len(fine))
    k: float = m0 + int(np.argmax(fine[m0:m1]))
    if 0 < k < len(fine) - 1:  # parabola through the top three points of the upsampled curve
        a, b, cc = fine[k - 1], fine[k], fine[k + 1]
        den = a - 2 * b + cc
        k = k + (0.5 * (a - cc) / den if den != 0 else 0.0)
    return lo + k / up


class _Scaled:
    """A read-only float64 view of an integer track, converted slice by slice."""

    def __init__(self, raw: np.ndarray, scale: float) -> None:
        self.raw, self.scale = raw, scale

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, sl: slice) -> np.ndarray:
        return self.raw[sl].astype(np.float64) * self.scale


def detect(samples: np.ndarray, spec: ChirpSpec, threshold: float = 0.5, chunk_s: float = 20.0) -> list[Detection]:
    """Every chirp in a mono track (int16 or float), first sample positions with sub-sample precision."""
    raw = np.asarray(samples).reshape(-1)
    scale = 1 / 32768.0 if np.issubdtype(raw.dtype, np.integer) else 1.0
    x = _Scaled(raw, scale)  # converted chunk by chunk: an hour of int16 stays int16
    tpl = template(spec)
    L = len(tpl)
    if len(x) < L:
        return []
    tn = float(np.sqrt(np.sum(tpl**2)))
    chunk = max(int(chunk_s * spec.rate), 4 * L)
    found: list[Detection] = []
    last = -L
    for s0 in range(0, len(x) - L + 1, chunk):
        seg = x[s0 : min(len(x), s0 + chunk + L - 1)]
        c = _correlate(seg, tpl)
        e = np.concatenate([[0.0], np.cumsum(seg**2)])
        local = np.sqrt(np.maximum(e[L : L + len(c)] - e[: len(c)], 1e-20))
        score = c / (local * tn)
        cand = np.flatnonzero(score > threshold)
        # keep the best lag of each cluster (a chirp is L samples long; two cannot overlap)
        i = 0
        while i < len(cand):
            j = i
            while j + 1 < len(cand) and cand[j + 1] - cand[i] < L:
                j += 1
            best = cand[i + int(np.argmax(score[cand[i : j + 1]]))]
            pos = s0 + best
            if pos - last >= L:
                found.append(Detection(float(_refine(x, tpl, int(pos))), float(score[best])))
                last = pos
            i = j + 1
    return found
