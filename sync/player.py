"""Playing the sync chirp on an audio output (PortAudio), so the microphone records it.

On a lab rig the audio interface's output feeds a small speaker near the microphone (or a cable
into a second input).  Each chirp is played from a worker thread, timed to the host time the
request named; the exact moment does not matter for sync, because the detector finds where the
microphone recorded it, and the report shows the difference from the requested sample (the
output path's latency).
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from mestudio.sync.errors import AudioOutputError

INSTALL_HINT = "`apt-get install portaudio19-dev` then `pip install pyaudio` (mestudio[devices])"


def _pyaudio():
    try:
        import pyaudio
    except ImportError as e:
        raise AudioOutputError(
            f"[sync.chirp] output needs PyAudio, which is not installed ({e}); "
            f'install it: {INSTALL_HINT}, or set output = ""'
        ) from None
    return pyaudio


class ChirpPlayer:
    """Plays waves on one PortAudio output; ``close()`` waits for what is queued."""

    def __init__(self, device: str, rate: int) -> None:
        self._pyaudio = _pyaudio()
        self.rate = rate
        self._pa = self._pyaudio.PyAudio()
        try:
            self.index = self._find(device)
            self._pa.is_format_supported(
                rate, output_device=self.index, output_channels=1, output_format=self._pyaudio.paInt16
            )
        except ValueError as e:
            self._pa.terminate()
            raise AudioOutputError(
                f"[sync.chirp] output {device!r} cannot play mono int16 at {rate} Hz ({e})"
            ) from None
        except AudioOutputError:
            self._pa.terminate()
            raise
        self.played = 0
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sync-chirp-player", daemon=True)
        self._thread.start()

    def _find(self, wanted: str) -> int:
        outs = []
        for i in range(self._pa.get_device_count()):
            d = self._pa.get_device_info_by_index(i)
            if d.get("maxOutputChannels", 0) > 0:
                outs.append((i, d["name"]))
        if not outs:
            raise AudioOutputError(
                "[sync.chirp] output: PortAudio sees no audio output; connect one "
                '(or set output = "" to only publish chirp requests)'
            )
        if wanted in ("", "default"):
            try:
                return int(self._pa.get_default_output_device_info()["index"])
            except OSError:
                return outs[0][0]
        for i, name in outs:
            if wanted == str(i) or wanted.lower() in name.lower():
                return i
        names = "; ".join(f"{i}: {n}" for i, n in outs)
        raise AudioOutputError(f"[sync.chirp] output {wanted!r} matches no audio output (outputs: {names})")

    def play(self, wave: np.ndarray, at_host_ns: int | None = None) -> None:
        """Queue a float wave (+-1) to start at host monotonic ``at_host_ns`` (None: now)."""
        pcm = np.clip(np.asarray(wave, np.float64) * 32767, -32768, 32767).astype("<i2")
        self._queue.put((pcm, at_host_ns))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            pcm, at = item
            stream = self._pa.open(
                format=self._pyaudio.paInt16,
                channels=1,
                rate=self.rate,
                output=True,
                output_device_index=self.index,
                frames_per_buffer=256,
            )
            try:
                if at is not None:
                    lead = stream.get_output_latency()
                    wait = (at - time.monotonic_ns()) / 1e9 - lead
                    if wait > 0:
                        time.sleep(min(wait, 5.0))
                # a short silence first: some outputs swallow the first buffer while starting
                stream.write(np.zeros(256, "<i2").tobytes() + pcm.tobytes())
                self.played += 1
            finally:
                stream.stop_stream()
                stream.close()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._pa.terminate()
