"""A tiny recorded session for the annotation tests: a 48x64 face stream at 60 fps (frames 50-51
lost), a second camera, the analyzer's start/trace/event messages, a protocol clip and an operator
mark.  The numbers here are the ground truth the window and the merge are checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_writer import SessionWriter

T0 = 7_000_000_000
START = T0 + 500_000_000
PERIOD = 16_666_667  # 60 fps
N, GAP = 150, {50, 51}
H, W = 48, 64
SEQS = [i for i in range(N) if i not in GAP]
# the spotter's candidate events (frame sequence numbers of "face")
CANDIDATES = [
    {"kind": "micro", "onset_seq": 20, "apex_seq": 25, "offset_seq": 32, "aus": [12], "emotion": "Positive"},
    {"kind": "macro", "onset_seq": 90, "apex_seq": 100, "offset_seq": 130, "aus": [4, 7], "emotion": "Negative"},
]


def host(seq: int) -> int:
    return START + seq * PERIOD


def frame(seq: int) -> np.ndarray:
    """A gradient with a bright square that moves one pixel a frame: every frame differs."""
    y, x = np.mgrid[0:H, 0:W]
    img = (40 + x * 2 + y).astype(np.uint8)
    c = seq % (W - 10)
    img[18:28, c : c + 10] = 250
    return img


def build(root: Path, jitter_ns: int = 0, device_times: bool = True) -> Path:
    """``jitter_ns``: arrival times off by up to that much (a loaded host); ``device_times`` False:
    a camera that stamps nothing (pylon's emulator)."""
    root.mkdir(parents=True)
    write_json_atomic(
        root / "manifest.json",
        {
            "format": "mestudio-session",
            "status": "complete",
            "t0_host_ns": T0,
            "participant": "P07",
            "consent": "research",
        },
    )
    w = SessionWriter(root)
    face = w.stream("face", "|u1", (H, W), "mono8")
    face.describe({"media": "video", "rate_hz": 60.0, "device_kind": "synthetic-face"})
    side = w.stream("side", "|u1", (H, W), "mono8")
    side.describe({"media": "video", "rate_hz": 30.0, "device_kind": "synthetic-camera"})
    rng = np.random.default_rng(5)
    for s in SEQS:
        late = int(rng.integers(0, jitter_ns)) if jitter_ns else 0
        face.append(s, s * PERIOD if device_times else None, host(s) + late, frame(s).tobytes())
    for k in range(N // 2):
        side.append(k, None, host(2 * k), (255 - frame(2 * k)).tobytes())

    def ev(topic: str, t: int, body: dict) -> None:
        w.event(
            {
                "topic": topic,
                "kind": "event",
                "stream_id": topic.split("/")[-1],
                "seq": 0,
                "host_time_ns": t,
                "body": body,
            }
        )

    ev("markers/elicit", host(10), {"event": "clip_onset", "clip": "c01"})
    ev("results/analyzer", host(0), {"type": "start", "stream": "face", "fps": 60.0, "first_seq": 0})
    score = [0.2 + (1.5 if 20 <= s <= 32 or 90 <= s <= 130 else 0.0) for s in SEQS]
    ev(
        "results/analyzer",
        host(N - 1),
        {
            "type": "trace",
            "seq": SEQS,
            "t": [host(s) / 1e9 for s in SEQS],
            "score": score,
            "threshold": 1.0,
            "au": {
                "seq": SEQS,
                "t": [host(s) / 1e9 for s in SEQS],
                "AU12": [2.0 if 20 <= s <= 32 else 0.0 for s in SEQS],
            },
        },
    )
    for c in CANDIDATES:
        ev(
            "results/analyzer",
            host(c["offset_seq"]) + 10**9,
            {
                "type": "event",
                **c,
                "onset_s": host(c["onset_seq"]) / 1e9,
                "apex_s": host(c["apex_seq"]) / 1e9,
                "offset_s": host(c["offset_seq"]) / 1e9,
            },
        )
    ev("command/mark", host(60), {"text": "participant laughed"})
    ev("markers/elicit", host(140), {"event": "clip_offset", "clip": "c01"})
    w.close()
    return root
