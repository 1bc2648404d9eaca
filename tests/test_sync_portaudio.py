"""Chirp detection in a real PortAudio capture: JACK dummy server + ALSA file plugin (see
tests/capture_fixtures.py), read through mestudio's own audio backend."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.capture.registry import create_device
from mestudio.config import schema as S
from mestudio.sync.chirp import ChirpSpec, detect, plant

RATE = 48000
PLANTED = [4800.0, 30011.0, 61234.0, 90000.0]  # first samples of the planted chirps


@pytest.mark.slow
def test_every_planted_chirp_is_found_within_one_sample(jack_audio):
    spec = ChirpSpec(RATE)
    sig = np.random.default_rng(3).normal(0, 0.005, int(2.5 * RATE))
    for p in PLANTED:
        plant(sig, spec, p)
    raw = jack_audio.folder / "signal.raw"
    original = raw.read_bytes()
    raw.write_bytes(sig.astype(np.float32).tobytes())  # the file plugin reads it when a stream opens
    try:
        dev = create_device(S.AudioInput(name="mic", kind="audio", block=1024))
        blocks = {}
        with dev:
            while sum(len(b) for b in blocks.values()) < 2.2 * RATE:
                for f in dev.read(timeout_s=2.0):
                    blocks[f.seq] = f.data[:, 0].copy()
        seqs = sorted(blocks)
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), "PortAudio lost blocks"
        track = np.concatenate([blocks[s] for s in seqs])
        first = seqs[0] * 1024
    finally:
        raw.write_bytes(original)
    found = [first + d.sample for d in detect(track, spec)]
    print("chirp errors (samples):", [round(g - w, 4) for w, g in zip(PLANTED, found)])
    assert len(found) == len(PLANTED), f"found {found}, planted {PLANTED}"
    for want, got in zip(PLANTED, found):
        assert abs(got - want) <= 1.0, f"chirp planted at {want} found at {got:.3f}"
