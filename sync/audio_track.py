"""A recorded audio stream as one track of samples, with its sample clock.

Audio blocks are recorded as frames: ``seq`` is the block number and ``device_time_ns`` the time
of the block's first sample on the sample clock.  A lost block leaves a gap of silence in the
track, counted in ``missing_blocks`` (never hidden), so every sample keeps its own index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mestudio.stream.session import NO_DEVICE_TIME
from mestudio.stream.session_reader import StreamReader
from mestudio.sync.errors import NotEnoughDataError


@dataclass
class AudioTrack:
    stream_id: str
    rate: int
    block: int
    samples: np.ndarray  # channel 0, int16 (or the recorded dtype)
    first_sample: int  # absolute sample index of samples[0] (first block's seq * block)
    missing_blocks: int
    device_t0_ns: float  # sample clock: device time of absolute sample 0

    def device_time_ns(self, sample: float | np.ndarray) -> float | np.ndarray:
        """Device time of an absolute sample index (fractional allowed)."""
        return self.device_t0_ns + np.asarray(sample, np.float64) * 1e9 / self.rate


def is_audio(info: dict) -> bool:
    return info.get("media") == "audio" or info.get("pixel_format") in ("s16le", "f32le")


def read_track(reader: StreamReader) -> AudioTrack:
    info = reader.info
    idx = reader.index
    if len(idx) == 0:
        raise NotEnoughDataError(f"audio stream {reader.stream_id!r} recorded no blocks")
    shape = info["shape"]
    block = int(shape[0])
    settings = info.get("settings", {}) or {}
    rate = int(settings.get("sample_rate") or round(float(info.get("rate_hz", 0)) * block))
    if rate <= 0:
        raise NotEnoughDataError(f"audio stream {reader.stream_id!r}: no sample rate in its info.json")
    seq = idx["seq"].astype(np.int64)
    starts = (seq - seq[0]) * block
    if np.any(np.diff(seq) <= 0) or starts[-1] > (len(seq) + 600 * rate // block) * block:
        # the counter restarted (device reset) or jumped absurdly: blocks back to back, in arrival order
        starts = np.arange(len(seq)) * block
    total = int(starts[-1]) + block
    dtype = np.dtype(info["dtype"])
    track = np.zeros(total, dtype)
    for (_rec, frame), s in zip(reader.frames(), starts.tolist()):
        track[s : s + block] = frame.reshape(block, -1)[:, 0]
    first = int(seq[0]) * block
    dev = idx["device_time_ns"].astype(np.int64)
    ok = dev != NO_DEVICE_TIME
    if ok.any():
        # device time of sample 0, from every block that has one (median: robust to a glitch)
        t0 = float(np.median(dev[ok] - (first + starts[ok]) * 1e9 / rate))
    else:
        t0 = 0.0
    missing = int(np.sum(np.diff(seq)[np.diff(seq) > 1] - 1)) if len(seq) > 1 else 0
    return AudioTrack(reader.stream_id, rate, block, track, first, missing, t0)
