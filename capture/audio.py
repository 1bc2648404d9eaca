"""Microphone capture through PyAudio (PortAudio).

Blocks of ``block`` samples, int16.  ``seq`` is the block number, so block k starts at sample
``k * block``; ``device_time_ns`` is that sample's time on the sample clock (its count divided by
the rate), which makes any sample's time known.  PortAudio's ADC time of the latest block is in
``adc_time_s``.  A PortAudio overflow (lost input) is counted in ``dropped``.
"""

from __future__ import annotations

import queue
import time
from types import ModuleType

import numpy as np

from mestudio.capture.base import Device, Frame, StreamInfo
from mestudio.capture.errors import DeviceNotFoundError, SDKUnavailableError

INSTALL_HINT = (
    "`apt-get install portaudio19-dev` then `pip install pyaudio` (on macOS `brew install "
    "portaudio`; on Windows the PyAudio wheel includes PortAudio)"
)


def import_pyaudio() -> ModuleType:
    try:
        import pyaudio
    except ImportError as e:
        raise SDKUnavailableError(
            f"audio capture needs PyAudio, which is not installed ({e}); install it: {INSTALL_HINT}"
        ) from None
    return pyaudio


def input_devices(pa) -> list[tuple[int, str, int]]:
    """(index, name, max input channels) of every PortAudio device that can record."""
    out = []
    for i in range(pa.get_device_count()):
        d = pa.get_device_info_by_index(i)
        if d.get("maxInputChannels", 0) > 0:
            out.append((i, d["name"], int(d["maxInputChannels"])))
    return out


class AudioInput(Device):
    kind = "audio"

    def _open(self) -> None:
        pyaudio = import_pyaudio()
        s = self.spec
        self._pa = pyaudio.PyAudio()
        try:
            self._index = self._find_device()
            self._pa.is_format_supported(
                s.rate, input_device=self._index, input_channels=s.channels, input_format=pyaudio.paInt16
            )
        except ValueError as e:
            self._pa.terminate()
            raise DeviceNotFoundError(
                f"{self.name}: the input cannot record {s.channels} channel(s) of int16 "
                f"at {s.rate} Hz ({e}); change rate/channels or the device"
            ) from None
        except DeviceNotFoundError:
            self._pa.terminate()
            raise
        info = self._pa.get_device_info_by_index(self._index)
        self.streams = [
            StreamInfo(
                s.name,
                "audio",
                "<i2",
                (s.block, s.channels),
                "s16le",
                s.rate / s.block,
                self.kind,
                {"sample_rate": s.rate, "channels": s.channels, "block": s.block, "device": info["name"]},
            )
        ]
        self.adc_time_s = 0.0

    def _find_device(self) -> int:
        wanted = self.spec.device
        devices = input_devices(self._pa)
        if not devices:
            raise DeviceNotFoundError(
                f"{self.name}: PortAudio sees no input device; connect a microphone "
                "(or configure ALSA, see docs/capture.md)"
            )
        if not wanted:
            try:
                return int(self._pa.get_default_input_device_info()["index"])
            except OSError:
                return devices[0][0]
        for i, name, _ in devices:
            if wanted == str(i) or wanted.lower() in name.lower():
                return i
        names = "; ".join(f"{i}: {n}" for i, n, _ in devices)
        raise DeviceNotFoundError(f"{self.name}: no input device matches {wanted!r} (inputs: {names})")

    def _start(self) -> None:
        pyaudio = import_pyaudio()
        s = self.spec
        self._queue: queue.Queue = queue.Queue(maxsize=int(10 * s.rate / s.block) + 1)
        self._overflowed = 0
        self._captured = 0  # samples PortAudio has delivered since start

        def on_block(data, frame_count, time_info, status):
            # the sample counter advances here, so a block the reader never gets leaves a seq gap
            first = self._captured
            self._captured += frame_count
            if status & pyaudio.paInputOverflow:
                self._overflowed += 1
            try:
                self._queue.put_nowait((data, frame_count, time_info.get("input_buffer_adc_time", 0.0), first))
            except queue.Full:
                self._overflowed += 1  # the reader is more than 10 s behind
            return None, pyaudio.paContinue

        self._stream = self._pa.open(
            format=pyaudio.paInt16,
            channels=s.channels,
            rate=s.rate,
            input=True,
            input_device_index=self._index,
            frames_per_buffer=s.block,
            stream_callback=on_block,
        )

    def _read(self, timeout_s: float) -> list[Frame]:
        try:
            data, n, adc, first = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return []
        host = time.monotonic_ns()
        s = self.spec
        block = np.frombuffer(data, dtype="<i2").reshape(n, s.channels)
        seq = first // s.block
        dev_t = first * 1_000_000_000 // s.rate
        self.dropped = self._overflowed
        self.adc_time_s = adc
        return [Frame(s.name, seq, host, block, dev_t, "s16le")]

    def _stop(self) -> None:
        self._stream.stop_stream()
        self._stream.close()

    def _close(self) -> None:
        self._pa.terminate()
