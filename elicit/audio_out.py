"""Sound output through pyaudio (PortAudio), and the clock the clip player follows.

The player's clock is the sound card's: the time of the last sample handed to the device minus
its output latency, interpolated by the host clock between callbacks.  A device that consumes
samples faster than real time (the ALSA ``null``/``file`` plugins) is paced by the callback so the
clock stays real; with no output device the host clock alone drives the picture (silent run).
See docs/elicit.md for the JACK dummy server and ALSA set-ups used on machines without a card.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable

from mestudio.elicit.errors import AudioOutputError

log = logging.getLogger("mestudio.elicit")

RATE = 48000
CHANNELS = 2
BLOCK = 512  # frames per callback: 10.7 ms at 48 kHz
_HANDLERS: list = []  # C callbacks must outlive the libraries' use of them


def _quiet_c_libraries() -> None:
    """Route ALSA's and JACK's C-level prints away: without a card they print dozens of lines."""
    if _HANDLERS:
        return
    try:
        alsa = ctypes.cdll.LoadLibrary("libasound.so.2")
        proto = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
        _HANDLERS.append(proto(lambda *a: None))
        alsa.snd_lib_error_set_handler(_HANDLERS[-1])
    except (OSError, AttributeError):
        pass
    try:
        jack = ctypes.cdll.LoadLibrary("libjack.so.0")
        proto = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
        _HANDLERS.append(proto(lambda msg: log.debug("jack: %s", msg.decode(errors="replace"))))
        jack.jack_set_error_function(_HANDLERS[-1])
        jack.jack_set_info_function(_HANDLERS[-1])
    except (OSError, AttributeError):
        pass


class SoundSystem:
    """One PyAudio instance for a run; finds the output device once, before the session starts."""

    def __init__(self, device: str = "") -> None:
        os.environ.setdefault("JACK_NO_START_SERVER", "1")  # never spawn a jackd of our own
        _quiet_c_libraries()
        try:
            import pyaudio
        except ImportError:
            raise AudioOutputError(
                "pyaudio is not installed: pip install 'mestudio[devices]' (needs the Debian package portaudio19-dev)"
            ) from None
        self._pa_mod = pyaudio
        self.pa = pyaudio.PyAudio()
        self.device_index, self.device_name = self._find(device)

    def _find(self, wanted: str) -> tuple[int, str]:
        outs = []
        for i in range(self.pa.get_device_count()):
            d = self.pa.get_device_info_by_index(i)
            if d["maxOutputChannels"] > 0:
                outs.append((i, str(d["name"])))
        if wanted:
            for i, name in outs:
                if wanted.lower() in name.lower():
                    return i, name
            self.close()
            raise AudioOutputError(
                f"no sound output device matching {wanted!r} (found: "
                f"{', '.join(n for _, n in outs) or 'none'}); fix [audio] device"
            )
        try:
            d = self.pa.get_default_output_device_info()
            return int(d["index"]), str(d["name"])
        except OSError:
            pass
        if outs:
            return outs[0]
        self.close()
        raise AudioOutputError(
            "no sound output device on this machine (no sound card, no JACK server, "
            "no ALSA default); see docs/elicit.md 'Sound output'"
        )

    def open(self, pull: Callable[[int], bytes], rate: int = RATE, channels: int = CHANNELS) -> OutputStream:
        return OutputStream(self, pull, rate, channels)

    def close(self) -> None:
        if self.pa is not None:
            self.pa.terminate()
            self.pa = None


class OutputStream:
    """A running callback stream; ``pull(n)`` returns up to n frames of int16 (b"" = nothing yet)."""

    def __init__(self, system: SoundSystem, pull: Callable[[int], bytes], rate: int, channels: int) -> None:
        pa = system._pa_mod
        self.rate = rate
        self.frame_bytes = 2 * channels
        self._pull = pull
        self.delivered = 0  # frames handed to the device, silence included
        self._t0: float | None = None
        self.paced_by_us = False
        self._lock = threading.Lock()
        try:
            self._stream = system.pa.open(
                format=pa.paInt16,
                channels=channels,
                rate=rate,
                output=True,
                output_device_index=system.device_index,
                frames_per_buffer=BLOCK,
                stream_callback=self._callback,
                start=False,
            )
        except OSError as e:
            raise AudioOutputError(f"cannot open sound output {system.device_name!r} at {rate} Hz: {e}") from None
        self.latency_s = float(self._stream.get_output_latency())

    def _callback(self, _in, frames: int, _info, _status):
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        ahead = (self.delivered + frames) / self.rate - (now - self._t0)
        if ahead > 0.1:  # a device that is not paced by a clock (ALSA null/file): pace it ourselves
            self.paced_by_us = True
            time.sleep(ahead - 0.05)
        data = self._pull(frames)
        need = frames * self.frame_bytes
        if len(data) < need:
            data = data + b"\0" * (need - len(data))
        self.delivered += frames
        return data, 0  # paContinue

    def start(self) -> None:
        self._stream.start_stream()

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop_stream()
            finally:
                self._stream.close()
            self._stream = None
