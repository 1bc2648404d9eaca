"""Playing the sync chirp through PortAudio: an ALSA file plugin takes the place of a speaker.

Each case runs in its own interpreter with HOME pointing at its own .asoundrc, so the ALSA
set-up cannot leak into other tests (the capture fixtures point HOME elsewhere).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from mestudio.sync.chirp import ChirpSpec, detect
from tests.conftest import ROOT

PLAY = """
import sys, time
from mestudio.sync.chirp import ChirpSpec, chirp_wave
from mestudio.sync.player import ChirpPlayer
from mestudio.sync.errors import AudioOutputError
spec = ChirpSpec()
if sys.argv[1] == "play":
    p = ChirpPlayer("default", spec.rate)
    p.play(chirp_wave(spec, 0.0, 2400), time.monotonic_ns() + 50_000_000)
    p.close()
    print("played", p.played)
else:
    try:
        ChirpPlayer("no-such-speaker", spec.rate)
    except AudioOutputError as e:
        print("error:", e)
"""


def _run(tmp_path, what: str) -> subprocess.CompletedProcess:
    pytest.importorskip("pyaudio")
    out = tmp_path / "out.raw"
    (tmp_path / ".asoundrc").write_text(
        f'pcm.fileout {{ type file slave.pcm "null" file "{out}" format "raw" }}\n'
        'pcm.!default { type plug slave { pcm "fileout" format S16_LE rate 48000 channels 1 } }\n'
    )
    return subprocess.run(
        [sys.executable, "-c", PLAY, what],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
    )


def test_a_played_chirp_is_what_the_output_received(tmp_path):
    r = _run(tmp_path, "play")
    assert r.returncode == 0 and "played 1" in r.stdout, r.stderr[-2000:]
    pcm = np.fromfile(tmp_path / "out.raw", "<i2")
    found = detect(pcm, ChirpSpec())
    assert len(found) == 1 and found[0].score > 0.95
    assert abs(found[0].sample - 256) < 0.05  # after the 256 samples of lead-in silence


def test_an_unknown_output_names_the_outputs(tmp_path):
    r = _run(tmp_path, "missing")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "error: [sync.chirp] output 'no-such-speaker' matches no audio output (outputs:" in r.stdout
