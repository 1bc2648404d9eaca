"""Causal spotters over a stream of aligned face crops: MDMD (optical flow) and LBP chi-squared.

Both take one crop per frame (``push``) and give the score of an earlier frame, so their latency
is fixed and stated: MDMD scores frame i when frame i + k arrives (k frames), LBP when frame
i + 2k arrives (2k frames).  An interval is published when it closes, ``close_s`` after its offset
at the latest, so the delay from a movement's offset to its event is at most
``latency_s()`` = latency_frames / fps + close_s.  ``k`` is ``k_s`` seconds of frames (default
0.2 s, about half a micro-expression, as the baselines choose k = (L - 1) / 2).

Each method yields one value per block; every block is scaled by its own robust spread over the
last ``window_s`` of quiet frames (median and 1.4826 MAD), and the frame score is the mean of the
largest ``top_fraction`` of scaled blocks (1/9: four of 36 blocks, about one AU's area).
Crops are worked on at 72x72 (48x48 for the macro scale): 12x12-pixel blocks, and optical flow
cheap enough for 120 frames/s with the face.
"""

from __future__ import annotations

import abc
import dataclasses
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from mestudio.analysis.spotting.features import LBPFeature, MDMDFeature, chi2_blocks, flow, top_mean
from mestudio.analysis.spotting.intervals import Interval, IntervalDetector


@dataclass
class Scored:
    frame: int
    t: float
    score: float


class _Spotter(abc.ABC):
    method = ""

    def __init__(
        self,
        fps: float,
        k_s: float = 0.2,
        *,
        work_size: int = 72,
        top_fraction: float = 1 / 9,
        window_s: float = 10.0,
        **detector_kw,
    ) -> None:
        self.fps = fps
        self.k = max(1, int(round(k_s * fps)))
        self.work_size = work_size
        self.top_fraction = top_fraction
        self.detector = IntervalDetector(fps, method=self.method, window_s=window_s, **detector_kw)
        self.frames = 0
        self._times: deque[float] = deque(maxlen=4 * self.k + 2)
        self._quiet_blocks: deque[np.ndarray] = deque(maxlen=max(10, int(window_s * fps)))
        self._centre: np.ndarray | float = 0.0
        self._spread: np.ndarray | float = 1.0
        self._refresh_every = max(1, int(fps / 10))  # the quiet statistics, 10 times a second
        self._quiet_added = 0
        # (frame, its strongest blocks) over the longest interval, kept only for spotting fusion
        self._top_blocks: deque[tuple[int, tuple[int, ...]]] = deque(maxlen=int(5 * fps) + 1)

    @property
    @abc.abstractmethod
    def latency_frames(self) -> int:
        """Frames from a movement's offset to the frame that scores it."""

    def latency_s(self) -> float:
        """Worst delay from a movement's offset to its published interval."""
        return (self.latency_frames + self.detector.close_n) / self.fps

    def _prepare(self, crop: np.ndarray) -> np.ndarray:
        g = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        if self.work_size != g.shape[0]:
            g = cv2.resize(g, (self.work_size, self.work_size), interpolation=cv2.INTER_AREA)
        return g

    def _time_of(self, frame: int) -> float:
        return self._times[frame - (self.frames - len(self._times))]

    def push(self, crop: np.ndarray, t: float) -> tuple[Scored | None, list[Interval]]:
        """Add the next frame's crop (time ``t`` s); returns (a newly scored frame, closed intervals)."""
        self._times.append(t)
        out = self._push(self._prepare(crop))
        self.frames += 1
        if out is None:
            return None, []
        frame, blocks = out
        scaled = (blocks - self._centre) / self._spread
        score = float(top_mean(scaled, self.top_fraction))
        det = self.detector
        if det.z_weak is not None:  # where each frame's movement is, for a weak interval's apex
            m = max(1, int(round(scaled.size * self.top_fraction)))
            self._top_blocks.append((frame, tuple(int(b) for b in np.argpartition(scaled, scaled.size - m)[-m:])))
        if det.idle and (score < det.high or not det.warm):
            self._quiet_blocks.append(blocks)
            self._quiet_added += 1  # not len(): once the window is full that stays a multiple
            if self._quiet_added % self._refresh_every == 0 and len(self._quiet_blocks) >= 10:
                self._refresh_quiet()
        ivs = det.push(frame, self._time_of(frame), score)
        return Scored(frame, self._time_of(frame), score), [self._with_blocks(iv) for iv in ivs]

    def _with_blocks(self, iv: Interval) -> Interval:
        """With fusion on, an interval carries its apex frame's strongest blocks (where it moved)."""
        if self.detector.z_weak is None:
            return iv
        blocks = next((b for f, b in reversed(self._top_blocks) if f == iv.apex), ())
        return dataclasses.replace(iv, blocks=blocks)

    def _refresh_quiet(self) -> None:
        """Each block's centre and robust spread over the window of quiet frames."""
        q = np.stack(self._quiet_blocks)
        self._centre = np.median(q, axis=0)
        self._spread = 1.4826 * np.median(np.abs(q - self._centre), axis=0) + 1e-6

    def gap(self) -> list[Interval]:
        """The stream broke (face lost, frames missing): close what is open and start afresh."""
        out = [self._with_blocks(iv) for iv in self.detector.flush()]
        self._reset()
        self._top_blocks.clear()
        return out

    def flush(self) -> list[Interval]:
        return [self._with_blocks(iv) for iv in self.detector.flush()]

    @abc.abstractmethod
    def _push(self, img: np.ndarray) -> tuple[int, np.ndarray] | None:
        """Take one work image; (scored frame, its feature difference) once one is due, else None."""

    @abc.abstractmethod
    def _reset(self) -> None:
        """Forget the window (a gap in the frames)."""


class MDMDSpotter(_Spotter):
    """Main directional maximal difference of optical flow (the MEGC 2020 baseline).

    One flow a frame (``compose=True``, ``[analyzer] mdmd_flow = "composed"``): each new frame t
    gives the flow t - k -> t, which is the head-to-current flow (HF->CF) of frame t and the
    current-to-tail flow (CF->TF) of frame t - k, the frame scored now; that frame's HF->TF is
    its HF->CF (kept from k frames ago) followed by CF->TF from where HF->CF led.  The baseline
    computes HF->TF directly, a second flow a frame and the spotter's largest cost
    (``compose=False``).  Within the flow's reach (a few pixels of the work image) the two
    agree; beyond it (speech, a nod, an alignment glitch) the composed HF->TF no longer cancels,
    so such frames score lower (docs/analyzer.md, "Spotting")."""

    method = "mdmd"

    def __init__(self, fps: float, k_s: float = 0.2, *, compose: bool = True, **kw) -> None:
        super().__init__(fps, k_s, **kw)
        self.feature = MDMDFeature(self.work_size)
        self.compose = compose
        self._ring: deque[tuple[int, np.ndarray]] = deque(maxlen=(self.k + 1) if compose else 2 * self.k + 1)
        self._flows: deque[tuple[int, np.ndarray]] = deque(maxlen=self.k + 1)
        px = np.arange(self.work_size, dtype=np.float32)
        self._grid = np.stack(np.meshgrid(px, px), axis=-1)  # each pixel's (x, y), for the composition

    @property
    def latency_frames(self) -> int:
        return self.k

    def _reset(self) -> None:
        self._ring.clear()
        self._flows.clear()

    def _push(self, img: np.ndarray) -> tuple[int, np.ndarray] | None:
        self._ring.append((self.frames, img))
        if len(self._ring) < (self._ring.maxlen or 0):
            return None
        if not self.compose:
            (_, hf), (cf_i, cf), (_, tf) = self._ring[0], self._ring[self.k], self._ring[-1]
            return cf_i, self.feature.blocks(flow(hf, cf), flow(hf, tf))
        self._flows.append((self.frames, flow(self._ring[0][1], img)))
        if len(self._flows) < (self._flows.maxlen or 0):
            return None
        (cf_i, hf_cf), (_, cf_tf) = self._flows[0], self._flows[-1]
        at = self._grid + hf_cf
        hf_tf = hf_cf + cv2.remap(cf_tf, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return cf_i, self.feature.blocks(hf_cf, hf_tf)


class LBPSpotter(_Spotter):
    """LBP histograms and chi-squared feature difference with contrast (the MEGC 2019 baseline)."""

    method = "lbp"

    def __init__(self, fps: float, k_s: float = 0.2, **kw) -> None:
        super().__init__(fps, k_s, **kw)
        self.feature = LBPFeature(self.work_size)
        self._hist: deque[tuple[int, np.ndarray]] = deque(maxlen=2 * self.k + 1)
        self._f: deque[tuple[int, np.ndarray]] = deque(maxlen=2 * self.k + 1)

    @property
    def latency_frames(self) -> int:
        return 2 * self.k

    def _reset(self) -> None:
        self._hist.clear()
        self._f.clear()

    def _push(self, img: np.ndarray) -> tuple[int, np.ndarray] | None:
        self._hist.append((self.frames, self.feature(img)))
        if len(self._hist) < (self._hist.maxlen or 0):
            return None
        (_, tf), (cf_i, cf), (_, hf) = self._hist[0], self._hist[self.k], self._hist[-1]
        self._f.append((cf_i, chi2_blocks(cf, (tf + hf) / 2)))
        if len(self._f) < (self._f.maxlen or 0):
            return None
        j, fj = self._f[self.k]
        return j, fj - 0.5 * (self._f[0][1] + self._f[-1][1])


SPOTTERS = {"mdmd": MDMDSpotter, "lbp": LBPSpotter}


def make_spotter(method: str, fps: float, **kw) -> _Spotter:
    try:
        cls = SPOTTERS[method]
    except KeyError:
        raise ValueError(f"unknown spotting method {method!r}; choose one of {', '.join(SPOTTERS)}") from None
    return cls(fps, **kw)
