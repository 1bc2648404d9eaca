"""Clock models: each stream's device clock (or frame counter) mapped onto the host timeline.

For every frame the host knows its sequence number, the device's own timestamp (when the device
has a clock) and the host monotonic time at arrival.  A model per stream says

    corrected host time = x + offset + drift * (x - x0)        within one *segment*

where ``x`` is the device time (or ``seq * nominal period`` for devices without a clock).  The
line is the lower support line of the arrival offsets (see linefit.py), so arrival jitter is
removed, and drift is fitted, not assumed.  A *break* (device reset, clock jump, frame counter
going back) starts a new segment; dropped frames are counted and do not break anything because
the device time (or the counter) still says where the next frame belongs.

Raw timestamps are never changed: ``fit_stream`` returns corrected times beside them, and the
same function can be rerun offline at any time.  ``OnlineClock`` is the causal version the live
node uses (refits a sliding window as frames arrive).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from mestudio.sync.errors import NotEnoughDataError
from mestudio.sync.linefit import fit_lower_line


@dataclass
class SegmentFit:
    start: int  # first frame (position in the arrays) of the segment
    stop: int  # one past its last frame
    x0: float  # x of its first frame (ns)
    offset_ns: float  # host - x at x0
    drift: float  # d(offset)/dx, dimensionless (1e-6 = 1 ppm)
    inherited_drift: bool = False  # too short to fit a drift of its own

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x + self.offset_ns + self.drift * (x - self.x0)


@dataclass
class StreamFit:
    """The fitted model of one stream and the corrected timestamps of all its frames."""

    stream_id: str
    uses_device_time: bool
    period_ns: float  # nominal frame period on the device clock
    segments: list[SegmentFit]
    corrected_ns: np.ndarray  # int64, host timeline, one per frame
    segment_of: np.ndarray  # segment number of each frame
    residual_ns: np.ndarray  # arrival - corrected (>= 0 up to outliers): the removed jitter
    dropped: int  # frames missing from the sequence numbers (within segments)
    breaks: int  # segments - 1
    pieces: list[list[SegmentFit]] = field(default_factory=list)  # per segment, its window lines
    x_range: list[tuple[float, float]] = field(default_factory=list)  # per segment, first and last x

    def at(self, x: np.ndarray | float) -> np.ndarray:
        """Host time of device time(s) ``x`` (ns), through the segment whose range holds each.

        Outside every range the nearest segment's line is extended.  After a reset two segments
        can share device times; the later segment wins, as the newest clock is the live one.
        """
        x = np.atleast_1d(np.asarray(x, np.float64))
        best = np.zeros(len(x), np.int64)
        dist = np.full(len(x), np.inf)
        for k, (lo, hi) in enumerate(self.x_range):
            d = np.maximum(lo - x, 0) + np.maximum(x - hi, 0)
            take = d <= dist
            best[take], dist[take] = k, d[take]
        out = np.empty(len(x))
        for k in np.unique(best):
            sel = best == k
            out[sel] = _blend(self.pieces[k], x[sel])
        return out

    def health(self) -> dict:
        r = self.residual_ns
        last = self.segments[-1] if self.segments else None
        return {
            "frames": int(len(self.corrected_ns)),
            "offset_ms": round(float(last.offset_ns) / 1e6, 6) if last else None,
            "drift_ppm": round(-float(last.drift) * 1e6, 3) if last else None,  # > 0: device clock fast
            "jitter_ms": round(float(np.std(r)) / 1e6, 4) if len(r) else None,
            "latency_min_ms": round(float(np.min(r)) / 1e6, 4) if len(r) else None,
            "residual_p99_ms": round(float(np.percentile(r, 99)) / 1e6, 4) if len(r) else None,
            "dropped_frames": int(self.dropped),
            "breaks": int(self.breaks),
            "uses_device_time": self.uses_device_time,
        }


def nominal_period_ns(x: np.ndarray, seq: np.ndarray) -> float:
    """Median device time per frame step, from consecutive frames."""
    ds = np.diff(seq.astype(np.int64))
    dx = np.diff(x)
    ok = (ds > 0) & (dx > 0)
    if not ok.any():
        return 0.0
    return float(np.median(dx[ok] / ds[ok]))


def find_breaks(seq: np.ndarray, x: np.ndarray, period_ns: float) -> np.ndarray:
    """Positions i where frame i starts a new segment (excluding 0).

    A break is: the counter or the device clock going back, or the device clock advancing by
    something other than (frames stepped) x period (the clock was reset, jumped or paused).
    The host clock never decides a break: a late frame (a stall of the host) is jitter, and the frames
    after it come back onto the line.
    """
    ds = np.diff(seq.astype(np.int64)).astype(np.float64)
    dx = np.diff(x)
    bad = (ds <= 0) | (dx <= 0)
    if period_ns > 0:
        tol = max(0.25 * period_ns, 1e5)
        bad |= np.abs(dx - ds * period_ns) > np.maximum(tol, 1e-3 * dx)
    return np.flatnonzero(bad) + 1


def fit_stream(
    stream_id: str,
    seq: np.ndarray,
    host_ns: np.ndarray,
    device_ns: np.ndarray | None = None,
    nominal_rate_hz: float | None = None,
    *,
    window_s: float = 120.0,
    min_fit_s: float = 2.0,
) -> StreamFit:
    """Fit one stream offline: segments, offset + drift per segment, corrected timestamps.

    ``device_ns`` None (or all missing) means the device has no clock: frames are placed by
    their counter at ``nominal_rate_hz``.  Segments longer than ``2 * window_s`` are fitted
    piecewise (lines over overlapping windows, blended) so slow drift changes are followed.
    """
    seq = np.asarray(seq, np.int64)
    host = np.asarray(host_ns, np.int64)
    n = len(seq)
    uses_dev = device_ns is not None and len(device_ns) == n
    if uses_dev:
        x = np.asarray(device_ns, np.float64)
        period = nominal_period_ns(x, seq)
    else:
        if not nominal_rate_hz:
            raise NotEnoughDataError(
                f"{stream_id}: a stream without device time needs its nominal rate (rate_hz in its info.json)"
            )
        period = 1e9 / nominal_rate_hz
        x = seq.astype(np.float64) * period
    starts = np.concatenate([[0], find_breaks(seq, x, period), [n]]) if n else np.array([0, 0])
    segments: list[SegmentFit] = []
    corrected = np.zeros(n, np.float64)
    seg_of = np.zeros(n, np.int64)
    dropped = 0
    drift_hint: float | None = None
    # fit the long segments first so that short ones can borrow their drift
    order = sorted(range(len(starts) - 1), key=lambda k: -(starts[k + 1] - starts[k]))
    fits: dict[int, list[SegmentFit]] = {}
    for k in order:
        s, e = int(starts[k]), int(starts[k + 1])
        xs, ys = x[s:e], (host[s:e] - x[s:e].astype(np.int64)).astype(np.float64)
        x0, y0 = xs[0], ys[0]
        span = xs[-1] - xs[0]
        if span >= min_fit_s * 1e9 and e - s >= 8:
            lines = _fit_pieces(xs - x0, ys - y0, window_s * 1e9)
            fits[k] = [SegmentFit(s, e, x0 + px0, y0 + a, b) for px0, a, b in lines]
            drift_hint = drift_hint if drift_hint is not None else fits[k][0].drift
        else:
            b = drift_hint or 0.0  # too short to see a drift: borrow the longest segment's
            a = float(np.min(ys - y0 - b * (xs - x0)))
            fits[k] = [SegmentFit(s, e, x0, y0 + a, b, inherited_drift=True)]
    for k in range(len(starts) - 1):
        s, e = int(starts[k]), int(starts[k + 1])
        pieces = fits[k]
        corrected[s:e] = _blend(pieces, x[s:e])
        seg_of[s:e] = k
        segments.append(
            SegmentFit(s, e, pieces[-1].x0, pieces[-1].offset_ns, pieces[-1].drift, pieces[-1].inherited_drift)
        )
        if e - s > 1:
            steps = np.diff(seq[s:e])
            dropped += int(np.sum(steps[steps > 1] - 1))
    corr = np.rint(corrected).astype(np.int64)
    nseg = len(starts) - 1
    return StreamFit(
        stream_id,
        uses_dev,
        period,
        segments,
        corr,
        seg_of,
        host - corr,
        dropped,
        max(0, len(segments) - 1),
        [fits[k] for k in range(nseg)],
        [(float(x[starts[k]]), float(x[starts[k + 1] - 1])) for k in range(nseg)],
    )


def _fit_pieces(x: np.ndarray, y: np.ndarray, window_ns: float) -> list[tuple[float, float, float]]:
    """(x0, offset at x0, drift) of lines over overlapping windows of one segment."""
    span = x[-1] - x[0]
    if span <= 2 * window_ns:
        a, b = fit_lower_line(x, y)
        return [(0.0, a, b)]
    centres = np.arange(x[0] + window_ns / 2, x[-1], window_ns)
    out = []
    for c in centres:
        lo, hi = np.searchsorted(x, [c - window_ns, c + window_ns])
        a, b = fit_lower_line(x[lo:hi] - c, y[lo:hi])
        out.append((float(c), a, b))
    return out


def _blend(pieces: list[SegmentFit], x: np.ndarray) -> np.ndarray:
    """Evaluate piecewise lines, interpolating linearly between neighbouring window centres."""
    if len(pieces) == 1:
        return pieces[0].predict(x)
    centres = np.array([p.x0 for p in pieces])
    offs = np.array([p.offset_ns for p in pieces])
    drifts = np.array([p.drift for p in pieces])
    j = np.clip(np.searchsorted(centres, x) - 1, 0, len(pieces) - 2)
    w = np.clip((x - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0)
    left = x + offs[j] + drifts[j] * (x - centres[j])
    right = x + offs[j + 1] + drifts[j + 1] * (x - centres[j + 1])
    return (1 - w) * left + w * right


@dataclass
class OnlineClock:
    """Causal clock model for the live node: refit a sliding window as frames arrive."""

    stream_id: str
    nominal_rate_hz: float | None = None
    window_s: float = 60.0
    refit_every: int = 60  # frames; about once a second at video rates
    frames: int = 0
    dropped: int = 0
    breaks: int = 0
    _pts: deque = field(default_factory=deque)  # (x, host) of the current segment
    _last: tuple | None = None  # (seq, x, host) of the previous frame
    _fit: tuple[float, float, float] | None = None  # x0, offset, drift
    _drift_hint: float | None = None
    _since_fit: int = 0
    _period: float = 0.0
    _resid: deque = field(default_factory=lambda: deque(maxlen=600))

    def add(self, seq: int, host_ns: int, device_ns: int | None = None) -> int:
        """Take one frame; return its corrected host time (ns) under the current model."""
        if device_ns is None:
            if not self.nominal_rate_hz:
                raise NotEnoughDataError(f"{self.stream_id}: a stream without device time needs its nominal rate")
            x = seq * 1e9 / self.nominal_rate_hz
        else:
            x = float(device_ns)
        self.frames += 1
        if self._last is not None:
            pseq, px, _ = self._last
            ds, dx = seq - pseq, x - px
            if ds > 0 and dx > 0 and not self._period:
                self._period = dx / ds
            jump = self._period and abs(dx - ds * self._period) > max(0.25 * self._period, 1e5, 1e-3 * dx)
            if ds <= 0 or dx <= 0 or jump:
                self.breaks += 1
                if self._fit is not None:
                    self._drift_hint = self._fit[2]
                self._pts.clear()
                self._fit = None
            elif ds > 1:
                self.dropped += ds - 1
        self._last = (seq, x, host_ns)
        self._pts.append((x, host_ns))
        while self._pts and x - self._pts[0][0] > self.window_s * 1e9:
            self._pts.popleft()
        self._since_fit += 1
        # refit every frame while the segment is young (its first fits move the most)
        if self._fit is None or len(self._pts) < self.refit_every or self._since_fit >= self.refit_every:
            self._refit()
        assert self._fit is not None  # _refit() always leaves a fit
        x0, off, drift = self._fit
        corrected = int(round(x + off + drift * (x - x0)))
        self._resid.append(host_ns - corrected)
        return corrected

    def _refit(self) -> None:
        self._since_fit = 0
        arr = np.asarray(self._pts, np.float64)
        xs = arr[:, 0]
        ys = arr[:, 1] - xs
        x0 = xs[0]
        if len(xs) >= 8 and xs[-1] - x0 >= 1e9:
            a, b = fit_lower_line(xs - x0, ys - ys[0])
        else:
            b = self._drift_hint or 0.0
            a = float(np.min(ys - ys[0] - b * (xs - x0)))
        self._fit = (x0, ys[0] + a, b)

    def predict(self, x: float) -> int | None:
        """Host time of device time (or seq-derived x) ``x`` under the current model."""
        if self._fit is None:
            return None
        x0, off, drift = self._fit
        return int(round(x + off + drift * (x - x0)))

    def health(self) -> dict:
        r = np.asarray(self._resid, np.float64)
        return {
            "frames": self.frames,
            "offset_ms": round(float(self._fit[1]) / 1e6, 6) if self._fit else None,
            "drift_ppm": round(-self._fit[2] * 1e6, 3) if self._fit else None,
            "jitter_ms": round(float(np.std(r)) / 1e6, 4) if len(r) else None,
            "residual_p99_ms": round(float(np.percentile(r, 99)) / 1e6, 4) if len(r) else None,
            "dropped_frames": self.dropped,
            "breaks": self.breaks,
        }
