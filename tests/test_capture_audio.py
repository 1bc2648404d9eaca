"""Audio through the real PortAudio/ALSA path: a JACK dummy server and an ALSA file plugin inject
a known signal; the capture must return it bit-exact, every block stamped at its sample time."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.capture.registry import create_device
from mestudio.config import schema as S


def _capture(n_samples: int, block: int) -> list:
    dev = create_device(S.AudioInput(name="mic", kind="audio", rate=48000, block=block))
    frames = []
    with dev:
        while sum(len(f.data) for f in frames) < n_samples:
            got = dev.read(2.0)
            assert got, "no audio block within 2 s"
            frames += got
        dropped = dev.dropped
    assert dropped == 0
    return frames


@pytest.mark.slow
def test_injected_signal_comes_back_bit_exact_at_its_sample_times(jack_audio):
    n = int(2.3 * jack_audio.rate)  # covers the beep at 1.0 s and the ramp at 2.0 s
    frames = _capture(n, 1024)
    x = np.concatenate([f.data[:, 0] for f in frames])[:n]
    expected = jack_audio.signal_i16[:n]
    assert x.dtype == np.int16
    np.testing.assert_array_equal(x, expected)  # bit-exact, lag 0
    # every block: consecutive number, device time = time of its first sample on the sample clock
    for k, f in enumerate(frames):
        assert f.seq == k
        assert f.device_time_ns == k * 1024 * 1_000_000_000 // 48000
    # host arrival paced by the dummy driver: 2.3 s of audio takes about 2.3 s
    span = (frames[-1].host_time_ns - frames[0].host_time_ns) / 1e9
    assert 1.5 < span < 3.5


def test_blocks_describe_themselves(jack_audio):
    dev = create_device(S.AudioInput(name="mic", kind="audio", block=480))
    with dev:
        f = dev.read(2.0)[0]
        info = dev.streams[0]
    assert f.data.shape == (480, 1) == info.shape and info.pixel_format == "s16le"
    assert info.settings["sample_rate"] == 48000 and info.rate_hz == pytest.approx(100.0)
