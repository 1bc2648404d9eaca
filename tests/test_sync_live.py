"""The live synchronizer: audio-paced triggers, chirp requests found in arriving audio, health."""

from __future__ import annotations

import numpy as np

from mestudio.config.schema import SessionConfig
from mestudio.sync.chirp import plant
from mestudio.sync.live import LiveSync
from mestudio.sync.settings import load_sync_settings

RATE, BLOCK = 48000, 800
DRIFT = 100e-6  # the sample clock runs 100 ppm fast


def _live(**sync) -> LiveSync:
    cfg = SessionConfig.model_validate(
        {
            "devices": [
                {"name": "mic", "kind": "synthetic-audio", "rate": RATE, "block": BLOCK},
                {"name": "rig", "kind": "basler-array", "count": 2, "trigger": "software", "fps": 60},
                {"name": "kin", "kind": "synthetic-rgbd", "fps": 30},
            ],
            "sync": {"enabled": True, **sync},
        }
    )
    return LiveSync(cfg, load_sync_settings(cfg.sync))


def _host_of_sample(s):
    return 5e9 + s * 1e9 / RATE / (1 + DRIFT)


def test_triggers_follow_the_audio_sample_clock():
    live = _live()
    assert live.audio_id == "mic" and list(live.pacers) == ["rig"]
    assert live.framesets.reference == "rig-0"
    rng = np.random.default_rng(0)
    sent = []
    for b in range(600):  # 10 s of audio, simulated time
        arrive = _host_of_sample((b + 1) * BLOCK) + rng.exponential(1e6)
        live.on_frame("mic", b, int(arrive), int(b * BLOCK * 1e9 / RATE))
        sent += [(tick, sample, arrive) for _, tick, sample, _ in live.due_triggers(int(arrive))]
    ticks = [t for t, _, _ in sent]
    assert ticks == list(range(len(ticks))) and len(ticks) > 550
    samples = np.array([s for _, s, _ in sent])
    assert np.all(np.diff(samples) == RATE / 60)  # one trigger every 800 samples
    # each trigger leaves when its sample is due on the host clock (at most one audio block late,
    # since in this test time only moves when a block arrives)
    late_ms = (np.array([a for _, _, a in sent]) - _host_of_sample(samples)) / 1e6
    assert np.all(late_ms[100:] > -0.5) and np.all(late_ms[100:] < 1000 / 60 + 3)
    h = live.health()
    assert h["triggers"]["sent"]["rig"] == len(ticks)
    assert abs(h["streams"]["mic"]["drift_ppm"] - 100) < 5


def test_a_requested_chirp_is_found_in_the_arriving_audio():
    live = _live()
    rng = np.random.default_rng(1)
    sig = rng.normal(0, 0.01, 240 * BLOCK)
    body = None
    for b in range(240):
        if b == 60:
            body = live.request_chirp("stimulus 1")
            plant(sig, live.chirp_spec, body["sample"] + 0.25)  # the speaker plays it a quarter sample late
        block = np.clip(sig[b * BLOCK : (b + 1) * BLOCK] * 32767, -32768, 32767).astype(np.int16)
        live.on_frame("mic", b, int(_host_of_sample((b + 1) * BLOCK)), int(b * BLOCK * 1e9 / RATE), block[:, None])
        live.scan_chirps()
    assert body["reason"] == "stimulus 1" and body["stream"] == "mic"
    assert body["sample"] > 60 * BLOCK  # ahead of what had arrived
    h = live.health()["chirps"]
    assert h["requested"] == 1 and h["detected"] == 1
    assert abs(h["errors_samples"][0] - 0.25) < 0.05


def test_without_audio_there_are_no_triggers_and_health_says_so():
    cfg = SessionConfig.model_validate(
        {"devices": [{"name": "cam", "kind": "synthetic-camera"}], "sync": {"enabled": True}}
    )
    live = LiveSync(cfg, load_sync_settings(cfg.sync))
    for k in range(100):
        live.on_frame("cam", k, int(k * 1e9 / 60 + 1e6), int(k * 1e9 / 60))
    assert live.due_triggers(10**12) == [] and live.request_chirp("x") is None
    h = live.health()
    assert h["audio"] is None and h["streams"]["cam"]["frames"] == 100
