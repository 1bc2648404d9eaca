"""Two spotting scales merged into one causal stream of intervals.

The micro scale (k = 0.2 s) sees movements shorter than about 2k; a macro-expression (0.5-4 s)
shows in it only as spikes at its rise and fall.  The macro scale runs the same method with a
longer k on every other frame and keeps only intervals of macro length.  A micro-scale interval
is held until the macro scale has scored past it; one that overlaps a macro interval is part of
that movement and dropped, and the micro scale's own macro-length intervals (the rise or fall
of a longer movement) are left to the macro scale once it is warm.  Latency is therefore the
macro scale's (stated by ``latency_s``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from mestudio.analysis.spotting import Interval, make_spotter
from mestudio.analysis.spotting.spotters import Scored

# micro intervals are widened by 50 ms each side (the score crosses its low threshold after the
# movement starts and falls under it before it settles); measured on synthetic sessions, where it
# took micro F1 from 0.58 to 0.71.  The macro scale's extent needs none.
MICRO_PAD_S = 0.05
MACRO_PAD_S = 0.0


class ScaleBank:
    def __init__(
        self,
        method: str,
        fps: float,
        micro_k_s: float,
        macro_k_s: float | None,
        z_high: float,
        z_low: float,
        macro_z_high: float | None = None,
        warmup_s: float = 1.0,
        mdmd_flow: str = "composed",
        weak_z: Callable[[float], float] | None = None,
        confirm: Callable[[Interval], bool] | None = None,
    ) -> None:
        """``weak_z``: spotting fusion, a scale's z_high -> its lower bar; candidates passing it
        are kept as weak intervals, reported only when ``confirm(interval)`` (frame numbers of
        this bank) says an independent cue agrees.  None: the flow alone (the MEGC baseline)."""
        flow_kw = {"compose": mdmd_flow == "composed"} if method == "mdmd" else {}
        self.confirm = confirm if weak_z is not None else None
        self.micro = make_spotter(
            method,
            fps,
            k_s=micro_k_s,
            z_high=z_high,
            z_low=z_low,
            warmup_s=warmup_s,
            pad_s=MICRO_PAD_S,
            z_weak=weak_z(z_high) if weak_z is not None else None,
            **flow_kw,
        )
        self.macro = None
        if macro_k_s:
            self.macro = make_spotter(
                method,
                fps / 2,
                k_s=macro_k_s,
                work_size=48,
                z_high=macro_z_high or z_high,
                z_low=z_low,
                warmup_s=2 * warmup_s,
                pad_s=MACRO_PAD_S,
                z_weak=weak_z(macro_z_high or z_high) if weak_z is not None else None,
                **flow_kw,
            )
        self._pending: list[Interval] = []
        self._macros: list[Interval] = []
        self._n = 0  # frames pushed (the micro spotter's index space)
        self._macro_done = -1  # last frame (micro index) the macro scale has scored

    def latency_s(self) -> float:
        return max(self.micro.latency_s(), self.macro.latency_s() if self.macro else 0.0)

    def push(self, crop, t: float) -> tuple[Scored | None, list[Interval]]:
        n = self._n
        self._n += 1
        scored, micro_iv = self.micro.push(crop, t)
        out: list[Interval] = []
        self._pending += self._micro_only(micro_iv)
        if self.macro is None:
            return scored, self._release(None)
        if n % 2 == 0:
            m_scored, macro_iv = self.macro.push(crop, t)
            out += self._add_macros(macro_iv)
            if m_scored is not None:
                self._macro_done = 2 * m_scored.frame
        return scored, out + self._release(self._horizon())

    def _to_micro_index(self, iv: Interval) -> Interval:
        """Macro-scale frame numbers count every other frame: back to frame numbers."""
        return dataclasses.replace(
            iv, onset=2 * iv.onset, apex=2 * iv.apex, offset=2 * iv.offset, method=iv.method + "-macro"
        )

    def _confirmed(self, ivs: list[Interval]) -> list[Interval]:
        """Weak intervals only where the other cue agrees (at once: they never wait)."""
        return [iv for iv in ivs if not iv.weak or (self.confirm is not None and self.confirm(iv))]

    def _micro_only(self, ivs: list[Interval]) -> list[Interval]:
        """Macro-length movements are the macro scale's to report, once it is warm."""
        if self.macro is not None and self.macro.detector.warm:
            ivs = [iv for iv in ivs if iv.kind == "micro"]
        return self._confirmed(ivs)

    def _add_macros(self, ivs: list[Interval]) -> list[Interval]:
        new = self._confirmed([self._to_micro_index(iv) for iv in ivs if iv.kind == "macro"])
        self._macros += new
        return new

    def _horizon(self) -> int:
        """Micro intervals ending at or before this frame can no longer meet a new macro interval."""
        assert self.macro is not None  # only called with the macro scale on
        det = self.macro.detector
        if det.idle:
            return self._macro_done
        return 2 * det.open_since - 1

    def _release(self, horizon: int | None) -> list[Interval]:
        keep, out = [], []
        for iv in self._pending:
            if horizon is not None and iv.offset > horizon:
                keep.append(iv)
            elif not any(m.onset <= iv.offset and iv.onset <= m.offset for m in self._macros):
                out.append(iv)
        self._pending = keep
        self._macros = [m for m in self._macros if m.offset >= self._n - 600]
        return out

    def gap(self) -> list[Interval]:
        self._pending += self._micro_only(self.micro.gap())
        new = self._add_macros(self.macro.gap()) if self.macro is not None else []
        return new + self._release(None)

    def flush(self) -> list[Interval]:
        self._pending += self._micro_only(self.micro.flush())
        new = self._add_macros(self.macro.flush()) if self.macro is not None else []
        return new + self._release(None)
