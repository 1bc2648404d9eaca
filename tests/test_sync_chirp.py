"""The sync chirp and its matched-filter detector."""

from __future__ import annotations

import numpy as np

from mestudio.sync.chirp import ChirpSpec, chirp_wave, detect, plant, template


def _track(seconds: float, at: list[float], noise: float = 0.02, spec: ChirpSpec | None = None, seed: int = 0):
    spec = spec or ChirpSpec()
    x = np.random.default_rng(seed).normal(0, noise, int(seconds * spec.rate))
    for a in at:
        plant(x, spec, a)
    return np.clip(x * 32767, -32768, 32767).astype(np.int16)


def test_planted_chirps_are_found_to_a_small_fraction_of_a_sample():
    at = [1000.0, 48123.37, 100000.5, 150001.91]
    found = detect(_track(4.0, at), ChirpSpec())
    assert len(found) == len(at)
    assert max(abs(d.sample - a) for d, a in zip(found, at)) < 0.05
    assert all(d.score > 0.9 for d in found)


def test_quiet_chirps_under_loud_noise_are_still_found():
    spec = ChirpSpec(amplitude=0.05)
    found = detect(_track(3.0, [30000.25, 90000.75], noise=0.05, spec=spec), spec, threshold=0.3)
    assert len(found) == 2
    assert abs(found[0].sample - 30000.25) < 0.5 and abs(found[1].sample - 90000.75) < 0.5


def test_noise_tones_and_clicks_are_not_chirps():
    rate = 48000
    t = np.arange(3 * rate) / rate
    x = 0.3 * np.sin(2 * np.pi * 1000 * t) + np.random.default_rng(1).normal(0, 0.05, len(t))
    x[rate : rate + 20] = 0.9  # a click
    assert detect((x * 32767).astype(np.int16), ChirpSpec()) == []


def test_a_chirp_across_a_chunk_boundary_is_found_once():
    spec = ChirpSpec()
    boundary = int(1.0 * spec.rate)
    at = [boundary - 1200.5]
    found = detect(_track(2.5, at, spec=spec), spec, chunk_s=1.0)
    assert len(found) == 1 and abs(found[0].sample - at[0]) < 0.05


def test_template_is_the_wave_at_zero_delay_and_tapered():
    spec = ChirpSpec()
    tpl = template(spec)
    assert len(tpl) == int(spec.duration_s * spec.rate)
    np.testing.assert_allclose(tpl, chirp_wave(spec, 0.0, len(tpl)))
    assert abs(tpl[0]) < 1e-3 and np.max(np.abs(tpl)) <= spec.amplitude + 1e-9


def test_float_tracks_are_accepted():
    spec = ChirpSpec()
    x = np.zeros(2 * spec.rate)
    plant(x, spec, 12345.6)
    (d,) = detect(x, spec)
    assert abs(d.sample - 12345.6) < 0.05


def test_chirps_at_the_very_start_and_end_of_a_track_are_refined_exactly():
    spec = ChirpSpec()
    n = int(spec.duration_s * spec.rate)
    x = np.zeros(3 * n)
    plant(x, spec, 0.0)
    plant(x, spec, 2 * n - 0.5)  # its last samples are the track's last
    found = detect(x[: 3 * n - 1], spec)
    assert len(found) == 2
    assert abs(found[0].sample) < 0.05 and abs(found[1].sample - (2 * n - 0.5)) < 0.05
