"""The audio clock as trigger master: software triggers paced by the microphone's sample clock.

Trigger ``n`` belongs to audio sample ``first_sample + n * samples_per_trigger`` (800 samples at
48 kHz for 60 Hz).  Its host time comes from the audio stream's clock model, so the triggers
follow the sample clock (drift included), not the host's timer; each trigger event carries its
sample so that frame ``n`` of a triggered camera is placed on the audio timeline offline.
"""

from __future__ import annotations

from dataclasses import dataclass

from mestudio.sync.clock import OnlineClock


@dataclass
class AudioClock:
    """The live audio stream: which sample is where on the device clock and on the host."""

    rate: int
    block: int
    model: OnlineClock
    device_t0_ns: float | None = None  # device time of absolute sample 0
    latest_sample: int = -1  # absolute index of the newest sample received

    def add_block(self, seq: int, host_ns: int, device_ns: int | None) -> None:
        first = seq * self.block
        if device_ns is None:
            device_ns = int(first * 1e9 / self.rate)
        if self.device_t0_ns is None or self.model.breaks:
            self.device_t0_ns = device_ns - first * 1e9 / self.rate
        # a block arrives once its last sample is in; its device time is that of its first
        self.model.add(seq, host_ns - int(self.block * 1e9 / self.rate), device_ns)
        self.latest_sample = max(self.latest_sample, first + self.block - 1)

    def host_time_ns(self, sample: float) -> int | None:
        if self.device_t0_ns is None:
            return None
        return self.model.predict(self.device_t0_ns + sample * 1e9 / self.rate)


@dataclass
class TriggerPacer:
    """When each trigger is due, on the host clock, from the audio clock."""

    audio: AudioClock
    rate_hz: float
    first_sample: int | None = None
    next_tick: int = 0
    warmup_blocks: int = 6

    @property
    def samples_per_trigger(self) -> float:
        return self.audio.rate / self.rate_hz

    def sample_of(self, tick: int) -> float:
        if self.first_sample is None:
            raise RuntimeError("sample_of() before the first due(): the audio clock is not running yet")
        return self.first_sample + tick * self.samples_per_trigger

    def due(self) -> tuple[int, float, int | None] | None:
        """(tick, sample, host due time) of the next trigger, or None until the audio clock runs."""
        if self.audio.model.frames < self.warmup_blocks:
            return None
        if self.first_sample is None:
            # start a little ahead of the newest sample so the first trigger is not already late
            spt = self.samples_per_trigger
            self.first_sample = int((self.audio.latest_sample // spt + 2) * spt)
        s = self.sample_of(self.next_tick)
        return self.next_tick, s, self.audio.host_time_ns(s)

    def advance(self) -> None:
        self.next_tick += 1
