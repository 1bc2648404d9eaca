"""The face rig's script: which facial actions happen when.  It is the ground truth.

Times are seconds on the script clock (see ``FaceScript.epoch_host_ns``).  An event's intensity
rises from 0 at ``onset_s`` to ``intensity`` at ``apex_s`` and falls back to 0 at ``offset_s``
(raised-cosine ramps), as in the onset/apex/offset annotation of ME datasets.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

SCRIPT_VERSION = 1
AUS: tuple[int, ...] = (1, 2, 4, 6, 7, 12, 14, 15, 17, 45)
MICRO_MAX_S = 0.5
MACRO_MAX_S = 4.0
EventKind = Literal["micro", "macro", "blink", "head"]

# AU combinations the script draws from, with the emotion label the 4DME study gives them
# (its AU-to-emotion table: happiness 6+12, surprise 1+2, negative 4/7/15/17, ...).
EXPRESSIONS: tuple[tuple[tuple[int, ...], str], ...] = (
    # (AUs, emotion by the study's Table 4: decisive AUs decide; AU6 is dependent)
    ((6, 12), "positive"),
    ((12,), "positive"),
    ((1, 2), "surprise"),
    ((4,), "negative"),
    ((4, 7), "negative"),
    ((1, 4, 15), "negative+repression"),
    ((15, 17), "repression"),
    ((14,), "repression"),
    ((17,), "repression"),
    ((7,), "negative"),
)


@dataclass
class FaceEvent:
    """One scripted action: an expression (micro/macro), a blink (AU45) or a head movement."""

    kind: EventKind
    aus: list[int]
    onset_s: float
    apex_s: float
    offset_s: float
    intensity: float = 1.0
    emotion: str = ""
    # head events: {"dx_px", "dy_px", "roll_deg"} at apex, in output pixels of a 640x480 view
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.onset_s <= self.apex_s <= self.offset_s:
            raise ValueError(
                f"{self.kind} event: needs onset <= apex <= offset, got {self.onset_s}, {self.apex_s}, {self.offset_s}"
            )
        unknown = [a for a in self.aus if a not in AUS]
        if unknown:
            raise ValueError(f"{self.kind} event: AUs {unknown} are not animated (known: {list(AUS)})")

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s

    def level(self, t: float) -> float:
        """Intensity at script time ``t``: 0 outside the event, ``intensity`` at the apex."""
        if t <= self.onset_s or t >= self.offset_s:
            return 0.0
        if t <= self.apex_s:
            span, x = self.apex_s - self.onset_s, t - self.onset_s
        else:
            span, x = self.offset_s - self.apex_s, self.offset_s - t
        return self.intensity * (0.5 - 0.5 * math.cos(math.pi * x / span)) if span > 0 else self.intensity


@dataclass
class FaceScript:
    """An ordered list of events plus how to read their times."""

    events: list[FaceEvent]
    duration_s: float
    seed: int | None = None
    # script time 0 is this host CLOCK_MONOTONIC instant (the same clock as host_time_ns on the wire)
    epoch_host_ns: int | None = None
    # set when a device stops: the script time of its last rendered frame
    rendered_until_s: float | None = None
    # host instant of the writing device's frame 0 (its device_time_ns 0)
    device_t0_host_ns: int | None = None

    def __post_init__(self) -> None:
        self.events.sort(key=lambda e: e.onset_s)
        self._starts = np.array([e.onset_s for e in self.events])
        self._longest = max((e.duration_s for e in self.events), default=0.0)

    def active(self, t: float) -> list[FaceEvent]:
        """Events under way at ``t``."""
        hi = int(np.searchsorted(self._starts, t, side="left"))
        lo = int(np.searchsorted(self._starts, t - self._longest, side="left"))
        return [e for e in self.events[lo:hi] if e.onset_s < t < e.offset_s]

    def au_levels(self, t: float) -> dict[int, float]:
        """AU -> intensity at ``t`` (overlapping events add, capped at 1.5)."""
        out: dict[int, float] = {}
        for e in self.active(t):
            if e.kind == "head":
                continue
            lv = e.level(t)
            for au in e.aus:
                out[au] = min(1.5, out.get(au, 0.0) + lv)
        return out

    def head_pose(self, t: float) -> tuple[float, float, float]:
        """Scripted head offset (dx_px, dy_px, roll_deg) at ``t``, in 640x480 output pixels."""
        dx = dy = roll = 0.0
        for e in self.active(t):
            if e.kind == "head" and e.intensity > 0:
                w = e.level(t) / e.intensity
                dx += w * e.params.get("dx_px", 0.0)
                dy += w * e.params.get("dy_px", 0.0)
                roll += w * e.params.get("roll_deg", 0.0)
        return dx, dy, roll

    def expressions(self) -> list[FaceEvent]:
        return [e for e in self.events if e.kind in ("micro", "macro")]

    # -- JSON ------------------------------------------------------------------------------
    def to_json(self) -> str:
        body: dict[str, Any] = {
            "version": SCRIPT_VERSION,
            "time_base": "seconds after epoch_host_ns on the host CLOCK_MONOTONIC (host_time_ns on "
            "the wire); a frame shows script time (device_t0_host_ns + device_time_ns - "
            "epoch_host_ns) / 1e9, i.e. device_time_ns / 1e9 when the two instants are equal",
            "duration_s": self.duration_s,
            "seed": self.seed,
            "epoch_host_ns": self.epoch_host_ns,
            "device_t0_host_ns": self.device_t0_host_ns,
            "rendered_until_s": self.rendered_until_s,
            "aus": list(AUS),
            "events": [asdict(e) for e in self.events],
        }
        return json.dumps(body, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FaceScript:
        body = json.loads(text)
        if body.get("version") != SCRIPT_VERSION:
            raise ValueError(f"face script version {body.get('version')!r}; this mestudio reads {SCRIPT_VERSION}")
        events = [FaceEvent(**e) for e in body["events"]]
        return cls(
            events,
            body["duration_s"],
            body.get("seed"),
            body.get("epoch_host_ns"),
            body.get("rendered_until_s"),
            body.get("device_t0_host_ns"),
        )

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename) so a reader never sees half a script."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f"{p.name}.{os.getpid()}.tmp")  # several devices may write the shared copy
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> FaceScript:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _expression(rng: np.random.Generator, kind: EventKind, onset: float) -> FaceEvent:
    aus, emotion = EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]
    if kind == "micro":
        dur = float(rng.uniform(0.2, 0.45))
        intensity = float(rng.uniform(0.6, 0.9))
    else:
        dur = float(rng.uniform(0.8, 3.5))
        intensity = float(rng.uniform(0.8, 1.0))
    apex = onset + dur * float(rng.uniform(0.3, 0.5))
    return FaceEvent(
        kind, list(aus), round(onset, 3), round(apex, 3), round(onset + dur, 3), round(intensity, 3), emotion
    )


def default_script(
    duration_s: float, seed: int = 0, *, micro_fraction: float = 0.6, min_gap_s: float = 1.0
) -> FaceScript:
    """Micro and macro expressions separated by neutral gaps of at least ``min_gap_s``.

    Blinks and slow head movements fall inside the gaps, at least 0.3 s away from any
    expression, as distractors a spotter must not report.
    """
    rng = np.random.default_rng(seed)
    events: list[FaceEvent] = []
    t = min_gap_s
    while True:
        kind: EventKind = "micro" if rng.random() < micro_fraction else "macro"
        ev = _expression(rng, kind, t)
        if ev.offset_s + min_gap_s > duration_s:
            break
        events.append(ev)
        gap = min_gap_s + float(rng.exponential(1.5))
        gap_start, t = ev.offset_s, ev.offset_s + gap
        _fill_gap(rng, events, gap_start + 0.3, t - 0.3)
    _fill_gap(rng, events, (events[-1].offset_s if events else 0.0) + 0.3, duration_s - 0.3)
    return FaceScript(events, float(duration_s), seed)


def _fill_gap(rng: np.random.Generator, events: list[FaceEvent], start: float, end: float) -> None:
    """Maybe a blink and maybe a head movement, each fitting in [start, end]."""
    if end - start > 0.35 and rng.random() < 0.6:
        dur = float(rng.uniform(0.15, 0.3))
        on = float(rng.uniform(start, end - dur))
        events.append(FaceEvent("blink", [45], round(on, 3), round(on + dur * 0.4, 3), round(on + dur, 3), 1.0))
    if end - start > 1.6 and rng.random() < 0.35:
        dur = float(rng.uniform(1.0, min(2.5, end - start)))
        on = float(rng.uniform(start, end - dur))
        params = {
            "dx_px": round(float(rng.uniform(-8, 8)), 2),
            "dy_px": round(float(rng.uniform(-5, 5)), 2),
            "roll_deg": round(float(rng.uniform(-3, 3)), 2),
        }
        events.append(
            FaceEvent("head", [], round(on, 3), round(on + dur / 2, 3), round(on + dur, 3), 1.0, params=params)
        )
