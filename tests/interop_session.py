"""A small session folder with known times for the XDF and ELAN tests: a face camera, a microphone,
an LSL EEG stream whose sender's clock runs 2.5 s behind ours and drifts, an LSL marker stream, and
protocol markers, an operator mark and analyzer results in events.jsonl.  The numbers here are the
ground truth the exports are checked against."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mestudio.capture.lsl import encode_strings
from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_writer import SessionWriter

T0 = 5_000_000_000  # the session's t0 on the host clock
FACE_START = T0 + 1_000_000_000
FACE_PERIOD = 16_666_667
FACE_N, FACE_GAP = 40, {17, 18}
EEG_N, EEG_RATE, EEG_CH = 500, 100.0, 4
MIC_BLOCK, MIC_RATE, MIC_N = 800, 48000, 10


def eeg_offset_ns(host_ns: np.ndarray) -> np.ndarray:
    """Host clock minus the EEG sender's clock: 2.5 s, drifting by 50 ppm."""
    return (2_500_000_000 + (host_ns - T0) * 50e-6).astype(np.int64)


@dataclass
class Built:
    root: Path
    face_host: list[int] = field(default_factory=list)
    face_seq: list[int] = field(default_factory=list)
    eeg_host: np.ndarray | None = None
    eeg_dev: np.ndarray | None = None
    eeg_values: np.ndarray | None = None
    mic_host: list[int] = field(default_factory=list)
    mic_samples: np.ndarray | None = None
    markers: list[tuple[int, str]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)


def build_session(root: Path) -> Built:
    root.mkdir(parents=True)
    write_json_atomic(
        root / "manifest.json",
        {
            "format": "mestudio-session",
            "status": "complete",
            "t0_host_ns": T0,
            "participant": "P03",
            "consent": "research",
        },
    )
    b = Built(root)
    w = SessionWriter(root)
    rng = np.random.default_rng(7)
    face = w.stream("face", "|u1", (24, 32), "mono8")
    face.describe({"media": "video", "rate_hz": 60.0, "device_kind": "synthetic-camera"})
    for i in range(FACE_N):
        if i in FACE_GAP:
            continue
        host = FACE_START + i * FACE_PERIOD
        face.append(i, i * FACE_PERIOD, host, rng.integers(0, 256, (24, 32), np.uint8).tobytes())
        b.face_host.append(host)
        b.face_seq.append(i)
    mic = w.stream("mic", "<i2", (MIC_BLOCK, 1), "s16le")
    mic.describe({"media": "audio", "rate_hz": MIC_RATE / MIC_BLOCK, "settings": {"sample_rate": MIC_RATE}})
    b.mic_samples = rng.integers(-3000, 3000, (MIC_N, MIC_BLOCK, 1)).astype("<i2")
    for k in range(MIC_N):
        host = FACE_START + (k + 1) * MIC_BLOCK * 1_000_000_000 // MIC_RATE  # arrival: after its last sample
        mic.append(k, k * MIC_BLOCK * 1_000_000_000 // MIC_RATE, host, b.mic_samples[k].tobytes())
        b.mic_host.append(host)
    eeg = w.stream("eeg", "<f4", (EEG_CH,), "lsl-float32")
    eeg.describe(
        {
            "media": "signal",
            "rate_hz": EEG_RATE,
            "device_kind": "lsl",
            "settings": {
                "lsl_name": "BioSemi",
                "lsl_type": "EEG",
                "lsl_source_id": "amp-42",
                "lsl_channel_format": "float32",
                "nominal_srate": EEG_RATE,
                "channel_labels": ["Fz", "Cz", "Pz", "Oz"],
            },
        }
    )
    b.eeg_host = FACE_START + np.arange(EEG_N, dtype=np.int64) * 10_000_000 + rng.integers(0, 300_000, EEG_N)
    b.eeg_dev = b.eeg_host - eeg_offset_ns(b.eeg_host)
    b.eeg_values = rng.normal(0, 20, (EEG_N, EEG_CH)).astype("<f4")
    for k in range(EEG_N):
        eeg.append(k, int(b.eeg_dev[k]), int(b.eeg_host[k]), b.eeg_values[k].tobytes())
    mk = w.stream("stim", "|S32", (1,), "lsl-string")
    mk.describe(
        {
            "media": "markers",
            "rate_hz": 0.0,
            "device_kind": "lsl",
            "settings": {"lsl_name": "PsychoPy", "lsl_type": "Markers", "lsl_channel_format": "string"},
        }
    )
    for k, label in enumerate(["fixation", "stim-é", "response"]):
        host = FACE_START + 100_000_000 + k * 200_000_000
        data, _ = encode_strings([label], 32)
        mk.append(k, host - 2_500_000_000, host, data.tobytes())
        b.markers.append((host, label))
    on, off = FACE_START + 50_000_000, FACE_START + 550_000_000
    b.events = [
        _ev("markers/elicit", on, {"event": "clip_onset", "clip": "c01"}),
        _ev("command/mark", FACE_START + 300_000_000, {"text": "participant moved"}),
        _ev(
            "results/analyzer",
            FACE_START + 600_000_000,
            {
                "type": "event",
                "kind": "micro",
                "onset_s": (FACE_START + 5 * FACE_PERIOD) / 1e9,
                "apex_s": (FACE_START + 8 * FACE_PERIOD) / 1e9,
                "offset_s": (FACE_START + 12 * FACE_PERIOD) / 1e9,
                "onset_seq": 5,
                "apex_seq": 8,
                "offset_seq": 12,
                "aus": [1, 2],
                "emotion": "Surprise",
                "emotions": ["Surprise"],
            },
        ),
        _ev(
            "results/analyzer",
            FACE_START + 620_000_000,
            {
                "type": "trace",
                "seq": [0, 1, 2],
                "t": [(FACE_START + i * FACE_PERIOD) / 1e9 for i in range(3)],
                "score": [0.1, 0.5, 0.25],
                "quality": 0.9,
                "faces": 1,
                "threshold": 1.0,
            },
        ),
        _ev("markers/elicit", off, {"event": "clip_offset", "clip": "c01", "reason": "end"}),
    ]
    for e in b.events:
        w.event(e)
    w.close()
    return b


def _ev(topic: str, host: int, body: dict) -> dict:
    return {
        "topic": topic,
        "kind": "event",
        "stream_id": topic.split("/")[-1],
        "seq": 0,
        "host_time_ns": host,
        "device_time_ns": None,
        "body": body,
    }
