"""Lab Streaming Layer in: one LSL stream (EEG, GSR, eye tracker, markers ...) as a session stream.

One ``[[devices]]`` section of kind ``lsl`` per LSL stream, resolved by name, type and/or source id.
Every LSL sample becomes one frame: ``device_time_ns`` is the sample's LSL timestamp on the
sender's clock, ``host_time_ns`` the same instant on this host's clock (timestamp +
``time_correction()``, LSL's own clock-offset estimate, refreshed every few seconds).  LSL's clock
is CLOCK_MONOTONIC, the clock of every other host time, so sync/ fits this stream like any device.

Numeric streams are frames of ``channel_count`` values (their LSL format: float32, double64,
int8/16/32/64); string (marker) streams are frames of ``channel_count`` fixed-width UTF-8 fields
(``max_string_bytes``; a longer marker is cut at a character boundary and counted in ``truncated``).

A stream that disappears and comes back is a gap, not a crash: for a regular stream the samples
its timestamps say were missed advance ``seq`` (so verify and sync see the gap) and are counted in
``dropped``; ``outages`` counts those silences and the times an inlet reported its stream lost
(liblsl recovers a stream with a source id silently: an irregular one's outage leaves no trace).
"""

from __future__ import annotations

import time
from types import ModuleType

import numpy as np

from mestudio.capture.base import Device, Frame, StreamInfo
from mestudio.capture.errors import DeviceNotFoundError, SDKUnavailableError

# LSL channel_format codes (lsl_channel_format_t) -> numpy dtype strings of the recorded frames
LSL_DTYPES = {1: "<f4", 2: "<f8", 4: "<i4", 5: "<i2", 6: "|i1", 7: "<i8"}
LSL_STRING = 3
FORMAT_NAMES = {1: "float32", 2: "double64", 3: "string", 4: "int32", 5: "int16", 6: "int8", 7: "int64"}
# a regular stream silent for longer than this many sample periods (and at least GAP_MIN_S) has
# had an outage; shorter pauses are scheduling jitter of the sender
GAP_PERIODS = 5
GAP_MIN_S = 1.0  # a sender stalled for less pushes a late burst: its samples are not lost
CORRECTION_EVERY_S = 5.0


def import_pylsl() -> ModuleType:
    try:
        import pylsl
    except ImportError as e:
        raise SDKUnavailableError(
            f"the lsl device kind needs pylsl, which is not installed ({e}); "
            "`pip install pylsl` (its wheel bundles liblsl)"
        ) from None
    return pylsl


def predicate(spec) -> str:
    """The XPath query that finds the configured stream (liblsl's resolve_bypred)."""
    keys = (("name", spec.stream), ("type", spec.type), ("source_id", spec.source_id))
    return " and ".join(f"{key}='{value}'" for key, value in keys if value)


def encode_strings(values, width: int) -> tuple[np.ndarray, int]:
    """Fixed-width UTF-8 fields (bytes are kept as sent); returns (the |S<width> array, how many were cut)."""
    out, cut = [], 0
    for v in values:
        raw = bytes(v) if isinstance(v, (bytes, bytearray)) else str(v).encode("utf-8")
        if len(raw) > width:
            end = width
            while end > 0 and (raw[end] & 0xC0) == 0x80:  # the first byte dropped continues a character
                end -= 1
            raw = raw[:end]
            cut += 1
        out.append(raw)
    return np.array(out, dtype=f"|S{width}"), cut


def decode_strings(frame: np.ndarray) -> list[str]:
    """The marker strings of one recorded string-stream frame."""
    return [bytes(v).decode("utf-8", "replace") for v in np.atleast_1d(frame)]


class LSLInlet(Device):
    """One LSL stream pulled through a pylsl StreamInlet."""

    kind = "lsl"

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.seq = 0
        self.outages = 0
        self.truncated = 0
        self.corrections: list[float] = []  # every time_correction() value used, seconds
        self._correction = 0.0

    def _open(self) -> None:
        self._lsl = import_pylsl()
        s = self.spec
        query = predicate(s)
        found = self._lsl.resolve_bypred(query, 1, s.resolve_timeout_s)
        if not found:
            raise DeviceNotFoundError(
                f"{s.name}: no LSL stream matches {query} within {s.resolve_timeout_s} s "
                "(is its outlet running, on this network?)"
            )
        self._inlet = self._connect(found[0])
        info = self._inlet.info()
        fmt = info.channel_format()
        n = info.channel_count()
        if fmt != LSL_STRING and fmt not in LSL_DTYPES:
            raise DeviceNotFoundError(f"{s.name}: LSL stream {info.name()!r} has an unsupported channel format ({fmt})")
        self._is_string = fmt == LSL_STRING
        self._dtype = f"|S{s.max_string_bytes}" if self._is_string else LSL_DTYPES[fmt]
        self._srate = float(info.nominal_srate())
        self.streams = [
            StreamInfo(
                s.name,
                "markers" if self._is_string else "signal",
                self._dtype,
                (n,),
                "lsl-" + FORMAT_NAMES[fmt],
                self._srate,
                self.kind,
                {
                    "lsl_name": info.name(),
                    "lsl_type": info.type(),
                    "lsl_source_id": info.source_id(),
                    "lsl_hostname": info.hostname(),
                    "lsl_uid": info.uid(),
                    "lsl_channel_format": FORMAT_NAMES[fmt],
                    "nominal_srate": self._srate,
                    "channel_labels": _channel_labels(info, n),
                },
            )
        ]
        self._last_ts: float | None = None
        self._next_correction = 0.0
        self._lost = False
        self._recovered_outage = False  # the outage before the next sample is counted already

    def _connect(self, found, open_timeout_s: float | None = None):
        s = self.spec
        self._uid = found.uid()
        # a stream with a source id: liblsl reconnects by itself when it comes back; without one its
        # recovery waits on a slow watchdog, so the inlet reports the loss and we resolve it again
        recover = bool(found.source_id())
        inlet = self._lsl.StreamInlet(found, max_buflen=int(s.max_buffered_s), recover=recover)
        inlet.open_stream(timeout=open_timeout_s or s.resolve_timeout_s)
        return inlet

    def _refresh_correction(self) -> None:
        now = time.monotonic()
        if now < self._next_correction:
            return
        try:
            self._correction = float(self._inlet.time_correction(timeout=min(2.0, self.spec.resolve_timeout_s)))
            self.corrections.append(self._correction)
        except self._lsl.util.TimeoutError:
            pass  # the sender is away: keep the last estimate, try again soon
        self._next_correction = now + CORRECTION_EVERY_S

    def _read(self, timeout_s: float) -> list[Frame]:
        try:
            self._refresh_correction()
            # as_numpy: numbers as one array, strings as the bytes sent (a marker that is not valid
            # UTF-8 is kept as sent rather than failing pylsl's decode); min_samples: no waiting
            # for a full chunk once something has arrived
            samples, stamps = self._inlet.pull_chunk(timeout=timeout_s, max_samples=1024, min_samples=1, as_numpy=True)
        except self._lsl.util.LostError:
            # a stream without a source id cannot be recovered by liblsl: resolve it again ourselves
            self._reconnect()
            return []
        frames = []
        for sample, ts in zip(samples, stamps.tolist()):
            self._count_gap(ts)
            if self._is_string:
                data, cut = encode_strings(sample, self.spec.max_string_bytes)
                self.truncated += cut
            else:
                data = np.ascontiguousarray(sample, dtype=self._dtype)
            frames.append(
                Frame(
                    self.name,
                    self.seq,
                    int(round((ts + self._correction) * 1e9)),
                    data,
                    int(round(ts * 1e9)),
                    self.streams[0].pixel_format,
                )
            )
            self.seq += 1
        return frames

    def _count_gap(self, ts: float) -> None:
        last, self._last_ts = self._last_ts, ts
        if last is None or self._srate <= 0:
            return
        dt = ts - last
        if dt > max(GAP_PERIODS / self._srate, GAP_MIN_S):
            missed = max(0, int(round(dt * self._srate)) - 1)
            self.seq += missed
            self.dropped += missed
            if not self._recovered_outage:
                self.outages += 1
        self._recovered_outage = False

    def _reconnect(self) -> None:
        if not self._lost:  # one outage, however many reads it lasts
            self._lost = True
            self.outages += 1
        # the resolver may still list the lost outlet: only a new one (another uid) will answer
        found = [f for f in self._lsl.resolve_bypred(predicate(self.spec), 1, 0.5) if f.uid() != self._uid]
        if found:
            self._inlet.close_stream()
            try:
                self._inlet = self._connect(found[0], open_timeout_s=2.0)
            except self._lsl.util.TimeoutError:
                return  # seen but not answering yet: the next read tries again
            self._next_correction = 0.0
            self._lost = False
            self._recovered_outage = True

    def counters(self) -> dict:
        """What the device node adds to its heartbeats and END message."""
        return {
            "lsl_outages": self.outages,
            "lsl_truncated_markers": self.truncated,
            "lsl_time_correction_s": self._correction,
        }

    def _close(self) -> None:
        self._inlet.close_stream()


def _channel_labels(info, n: int) -> list[str]:
    """Channel labels from the stream's <desc><channels><channel><label> metadata, when it has them."""
    labels: list[str] = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty() and len(labels) < n:
        labels.append(ch.child_value("label"))
        ch = ch.next_sibling()
    return labels if len(labels) == n else []
