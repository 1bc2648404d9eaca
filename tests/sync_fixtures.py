"""Session folders with known sync truth, written through the real SessionWriter.

``write_sync_session`` records a microphone (48 kHz, blocks of 800, sample clock drifting
+50 ppm, planted chirps and an optional click), a camera triggered from the audio clock (one
trigger event per frame, its own drifting clock) and a free-running 30 Hz camera (with an optional
flash).  Every frame arrives with a one-sided random delay, as over a real bus.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mestudio.config.schema import SessionConfig
from mestudio.stream.session import FORMAT, FORMAT_VERSION, write_json_atomic
from mestudio.stream.session_writer import SessionWriter
from mestudio.sync.chirp import ChirpSpec, plant

RATE, BLOCK = 48000, 800
T0 = 10_000_000_000  # host time of audio sample 0 (ns)
AUDIO_DRIFT = 50e-6  # the sample clock runs 50 ppm fast
LATENCY = 2_000_000


@dataclass
class SyncTruth:
    root: Path
    chirp_samples: list[float]
    trigger_samples: np.ndarray  # sample of trigger n (= rig frame n)
    rig_truth_ns: np.ndarray  # true host time (+ fixed latency) of each recorded rig frame
    rig_seq: np.ndarray
    dropped_rig: int
    flash_time_ns: int | None = None
    click_time_ns: int | None = None
    extra: dict = field(default_factory=dict)


def sample_time_ns(sample: float | np.ndarray) -> np.ndarray:
    """True host time of an audio sample (+ the fixed latency every stream shares)."""
    return T0 + np.asarray(sample, np.float64) * 1e9 / RATE / (1 + AUDIO_DRIFT) + LATENCY


def _config(sync: dict) -> dict:
    cfg = {
        "session": {"name": "synctest"},
        "devices": [
            {"name": "mic", "kind": "synthetic-audio", "rate": RATE, "block": BLOCK},
            {"name": "rig", "kind": "basler-array", "count": 1, "trigger": "software", "fps": 60},
            {"name": "kin", "kind": "synthetic-rgbd", "fps": 30, "width": 8, "height": 8},
        ],
        "sync": sync,
    }
    return SessionConfig.model_validate(cfg).model_dump(mode="json")


def write_sync_session(
    root: Path,
    duration_s: float = 6.0,
    chirps_s: tuple = (0.5, 3.2, 5.1),
    seed: int = 0,
    flash_s: float | None = None,
    click_s: float | None = None,
    sync: dict | None = None,
    request_chirps: bool = True,
    kin_clock_shift_ns: int = 0,
    rig_first_seq: int = 0,
) -> SyncTruth:
    """``kin_clock_shift_ns``: the Kinect sits on another host whose clock reads that much more;
    a sync/host_offset event (as the node would publish) records the estimate."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        root / "manifest.json",
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "t0_host_ns": T0,
            "config": _config(sync or {"enabled": True}),
        },
    )
    w = SessionWriter(root)
    spec = ChirpSpec(RATE)
    nblocks = int(duration_s * RATE / BLOCK)
    sig = rng.normal(0, 0.01, nblocks * BLOCK)
    chirps = [c * RATE + 0.37 for c in chirps_s]
    for c in chirps:
        plant(sig, spec, c)
    click_time = None
    if click_s is not None:
        c0 = int(click_s * RATE)
        sig[c0 : c0 + 48] += 0.8 * np.exp(-np.arange(48) / 10.0)
        click_time = int(sample_time_ns(c0))
    pcm = np.clip(sig * 32767, -32768, 32767).astype("<i2")
    aw = w.stream("mic", "<i2", (BLOCK, 1), "s16le")
    aw.describe(
        {"media": "audio", "rate_hz": RATE / BLOCK, "settings": {"sample_rate": RATE, "channels": 1, "block": BLOCK}}
    )
    for b in range(nblocks):
        if b in (40, 41):  # two lost blocks: a gap the track must keep
            continue
        first = b * BLOCK
        host = int(sample_time_ns(first + BLOCK) + rng.exponential(1e6))  # a block arrives once full
        aw.append(b, int(first * 1e9 / RATE), host, pcm[first : first + BLOCK].tobytes())
    # the triggered camera: frame n exposed at the trigger's sample, its own clock at 1234 s, -30 ppm
    spt = RATE / 60
    first_sample = 2 * spt
    ntrig = int((nblocks * BLOCK - first_sample) / spt) - 1
    trig = first_sample + np.arange(ntrig) * spt

    def late_ns(n: int) -> int:  # the node's pacing lateness: usually small, now and then 8 ms
        return 8_000_000 if n % 50 == 7 else 100_000

    rw = w.stream("rig-0", "|u1", (8, 8), "mono8")
    rw.describe({"media": "video", "rate_hz": 60.0})
    drop = set(rng.choice(np.arange(5, ntrig), 3, replace=False).tolist())
    keep_seq, keep_truth = [], []
    for n, s in enumerate(trig):
        w.event(
            {
                "topic": "trigger/rig",
                "kind": "event",
                "stream_id": "sync",
                "seq": n,
                "host_time_ns": int(sample_time_ns(s)),
                "device_time_ns": None,
                "body": {"tick": n, "sample": float(s), "late_ns": late_ns(n)},
            }
        )
        if n in drop:
            continue
        true = float(sample_time_ns(s)) + late_ns(n)  # a late trigger exposes late
        dev = int(1234e9 + (true - T0) * (1 - 30e-6))
        rw.append(n + rig_first_seq, dev, int(true + rng.exponential(2e6)), np.full((8, 8), 20, np.uint8).tobytes())
        keep_seq.append(n + rig_first_seq)
        keep_truth.append(true)
    # a free-running 30 Hz camera with its own clock; optionally a flash
    kw = w.stream("kin-color", "|u1", (8, 8), "mono8")
    kw.describe({"media": "video", "rate_hz": 30.0})
    nk = int(duration_s * 30) - 2
    flash_time = None
    for k in range(nk):
        true = T0 + 0.05e9 + k * 1e9 / 30 * (1 + 20e-6) + LATENCY
        value = 30
        if flash_s is not None and true - T0 - LATENCY >= flash_s * 1e9:
            value = 230
            flash_time = flash_time or int(true)
        kw.append(
            k,
            int(-5e9 + k * 1e9 / 30),
            int(true + kin_clock_shift_ns + rng.exponential(2e6)),
            np.full((8, 8), value, np.uint8).tobytes(),
        )
    if kin_clock_shift_ns:
        for rtt, err in ((900_000, 40_000), (120_000, 3_000), (400_000, -20_000)):  # the lowest rtt wins
            w.event(
                {
                    "topic": "sync/host_offset",
                    "kind": "event",
                    "stream_id": "sync",
                    "seq": 0,
                    "host_time_ns": T0,
                    "device_time_ns": None,
                    "body": {
                        "host": "tcp://kinect-pc:5599",
                        "offset_ns": -kin_clock_shift_ns + err,
                        "rtt_ns": rtt,
                        "error_bound_ns": rtt // 2,
                        "probes": 16,
                        "kept": 4,
                    },
                }
            )
    if request_chirps:
        for i, c in enumerate(chirps):
            w.event(
                {
                    "topic": "sync/chirp",
                    "kind": "event",
                    "stream_id": "sync",
                    "seq": i,
                    "host_time_ns": int(sample_time_ns(c)),
                    "device_time_ns": None,
                    "body": {"sample": int(round(c)), "reason": f"test {i}"},
                }
            )
    w.flush()
    w.close()
    (root / "recorder.json").write_text(json.dumps({"written_at": time.time()}))
    kin_truth = T0 + 0.05e9 + np.arange(nk) * 1e9 / 30 * (1 + 20e-6) + LATENCY
    return SyncTruth(
        root,
        chirps,
        trig,
        np.array(keep_truth),
        np.array(keep_seq),
        len(drop),
        flash_time,
        click_time,
        {"kin_truth_ns": kin_truth},
    )
