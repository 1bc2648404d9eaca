"""The live synchronizer's state, free of sockets: frames in, events out.

``LiveSync`` keeps a causal clock model per stream, the audio clock, the trigger pacers, the chirp
requests (and finds them in the audio as it arrives), live frame sets and the sync health.  The
node (sync/node.py) feeds it messages and sends what it returns, so the same logic is tested
without processes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from mestudio.config.schema import SessionConfig
from mestudio.sync.chirp import ChirpSpec, detect
from mestudio.sync.clock import OnlineClock
from mestudio.sync.framesets import MISSING, FrameSetBuilder
from mestudio.sync.settings import SyncSettings
from mestudio.sync.trigger import AudioClock, TriggerPacer

# how far ahead of the newest audio sample a chirp is asked for: the request must reach the speaker
# before that sample is played, and on a loaded host the audio we see and the request we send each
# take their time (0.15 s lost chirps under load; offline matching allows 0.5 s either way)
CHIRP_LEAD_S = 0.4
# past a chirp's end, the audio a late speaker could still put it in (offline matching allows 0.5 s)
CHIRP_TAIL_S = 0.5


@dataclass
class ChirpRequest:
    sample: int
    reason: str
    found: float | None = None  # detected first sample
    done: bool = False


@dataclass
class LiveSync:
    config: SessionConfig
    settings: SyncSettings
    clocks: dict[str, OnlineClock] = field(default_factory=dict)
    audio: AudioClock | None = None
    audio_id: str | None = None
    pacers: dict[str, TriggerPacer] = field(default_factory=dict)  # device name -> pacer
    triggers_sent: dict[str, int] = field(default_factory=dict)
    late_triggers: int = 0
    chirps: list[ChirpRequest] = field(default_factory=list)
    framesets: FrameSetBuilder | None = None
    sets_emitted: int = 0
    sets_missing: dict[str, int] = field(default_factory=dict)
    host_offsets: dict[str, dict] = field(default_factory=dict)
    _audio_blocks: deque = field(default_factory=lambda: deque(maxlen=256))  # (first sample, int16 block)
    _rates: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        st = self.settings
        audio_ids = []
        for d in self.config.enabled_devices:
            for sid in d.stream_ids():
                if d.descriptor.media == "audio":
                    self._rates[sid] = d.rate / d.block
                    audio_ids.append((sid, d))
                else:
                    self._rates[sid] = float(getattr(d, "fps", 30.0))
        chosen = [a for a in audio_ids if a[0] == st.audio] or audio_ids
        if chosen:
            self.audio_id, dev = chosen[0]
            self.audio = AudioClock(
                dev.rate, dev.block, OnlineClock(self.audio_id, dev.rate / dev.block, window_s=st.window_s)
            )
            for d in self.config.enabled_devices:
                if d.software_triggered:
                    self.pacers[d.name] = TriggerPacer(self.audio, st.trigger_rate_hz)
                    self.triggers_sent[d.name] = 0
        ref = self._reference()
        if ref:
            others = [s for s in self._rates]
            # as offline: half the longer of the reference's and the stream's own frame period
            tol = {
                s: st.tolerance_ms * 1e6 if st.tolerance_ms > 0 else 0.5e9 / min(self._rates[ref], self._rates[s])
                for s in others
            }
            self.framesets = FrameSetBuilder(ref, others, tol)
            self.sets_missing = {s: 0 for s in others}

    def _reference(self) -> str | None:
        st = self.settings
        if st.reference:
            return st.reference
        for d in self.config.enabled_devices:
            if d.software_triggered:
                return d.stream_ids()[0]
        video = [s for s in self._rates if s != self.audio_id]
        return max(video, key=lambda s: self._rates[s]) if video else None

    @property
    def chirp_spec(self) -> ChirpSpec:
        c = self.settings.chirp
        return ChirpSpec(self.audio.rate if self.audio else 48000, c.f0_hz, c.f1_hz, c.duration_s, c.amplitude)

    # -- input ----------------------------------------------------------------------------
    def on_frame(self, stream_id: str, seq: int, host_ns: int, device_ns: int | None, data=None) -> None:
        if stream_id == self.audio_id and self.audio is not None:
            self.audio.add_block(seq, host_ns, device_ns)
            t0 = self.audio.device_t0_ns or 0.0  # add_block() has set it
            corrected = self.audio.model.predict(t0 + seq * self.audio.block * 1e9 / self.audio.rate)
            if data is not None:
                self._audio_blocks.append(
                    (seq * self.audio.block, np.asarray(data).reshape(-1)[: self.audio.block].copy())
                )
        else:
            clock = self.clocks.get(stream_id)
            if clock is None:
                clock = self.clocks[stream_id] = OnlineClock(
                    stream_id, self._rates.get(stream_id, 30.0), window_s=self.settings.window_s
                )
            corrected = clock.add(seq, host_ns, device_ns)
        if self.framesets is not None and stream_id in self.framesets.streams and corrected is not None:
            self.framesets.add(stream_id, seq, corrected)

    # -- output ---------------------------------------------------------------------------
    def due_triggers(self, now_ns: int) -> list[tuple[str, int, float, int]]:
        """(device, tick, sample, due host time) of every trigger whose time has come."""
        out: list[tuple[str, int, float, int]] = []
        for name, p in self.pacers.items():
            while True:
                d = p.due()
                if d is None or d[2] is None or d[2] > now_ns:
                    break
                tick, sample, due_ns = d[0], d[1], d[2]
                if now_ns - due_ns > 2e9 / p.rate_hz:
                    self.late_triggers += 1  # sent late; its sample still says which instant it is
                out.append((name, tick, sample, due_ns))
                p.advance()
                self.triggers_sent[name] += 1
        return out

    def next_due_ns(self) -> int | None:
        dues = [d[2] for p in self.pacers.values() if (d := p.due()) is not None and d[2] is not None]
        return min(dues) if dues else None

    def request_chirp(self, reason: str, lead_s: float = CHIRP_LEAD_S) -> dict | None:
        """A chirp at a sample a little ahead of the newest one; the body of the sync/chirp event."""
        if self.audio is None or self.audio.latest_sample < 0:
            return None
        sample = int(self.audio.latest_sample + lead_s * self.audio.rate)
        self.chirps.append(ChirpRequest(sample, reason))
        spec = self.chirp_spec
        return {
            "sample": sample,
            "reason": reason,
            "stream": self.audio_id,
            "rate": spec.rate,
            "due_host_ns": self.audio.host_time_ns(sample),
            "f0_hz": spec.f0_hz,
            "f1_hz": spec.f1_hz,
            "duration_s": spec.duration_s,
            "amplitude": spec.amplitude,
        }

    def scan_chirps(self) -> None:
        """Look for each requested chirp once the audio after it has arrived."""
        if self.audio is None or not self._audio_blocks:
            return
        rate = self.audio.rate
        spec = self.chirp_spec
        for r in self.chirps:
            if r.done or self.audio.latest_sample < r.sample + (spec.duration_s + 0.3) * rate:
                continue
            r.done = True
            lo, hi = r.sample - int(0.2 * rate), r.sample + int((spec.duration_s + 0.3) * rate)
            blocks = [(s, b) for s, b in self._audio_blocks if s + len(b) > lo and s < hi]
            if not blocks:
                continue
            start = blocks[0][0]
            track = np.zeros(blocks[-1][0] + len(blocks[-1][1]) - start, blocks[0][1].dtype)
            for s, b in blocks:
                track[s - start : s - start + len(b)] = b
            found = detect(track, spec, threshold=self.settings.chirp.threshold)
            if found:
                best = min(found, key=lambda d: abs(start + d.sample - r.sample))
                r.found = start + best.sample

    def heard_past(self, sample: int) -> bool:
        """Whether the audio has arrived up to a chirp at ``sample``, its length and a late speaker's margin."""
        if self.audio is None:
            return True
        return self.audio.latest_sample >= sample + (self.chirp_spec.duration_s + CHIRP_TAIL_S) * self.audio.rate

    def take_framesets(self, now_ns: int) -> list[dict]:
        if self.framesets is None:
            return []
        sets = self.framesets.take(now_ns)
        for s in sets:
            for k, q in s["frames"].items():
                self.sets_missing[k] += q == MISSING
        self.sets_emitted += len(sets)
        return sets

    def health(self) -> dict:
        streams = {sid: c.health() for sid, c in self.clocks.items()}
        if self.audio is not None and self.audio_id is not None and self.audio.model.frames:
            streams[self.audio_id] = self.audio.model.health()
        found = [(r.found, r.sample) for r in self.chirps if r.found is not None]
        return {
            "streams": streams,
            "audio": self.audio_id,
            "triggers": {"sent": dict(self.triggers_sent), "late": self.late_triggers},
            "chirps": {
                "requested": len(self.chirps),
                "detected": len(found),
                "errors_samples": [round(f - s, 3) for f, s in found][-10:],
            },
            "framesets": {
                "emitted": self.sets_emitted,
                "missing": dict(self.sets_missing),
                "reference": self.framesets.reference if self.framesets else None,
            },
            "host_offsets": list(self.host_offsets.values()),
        }
