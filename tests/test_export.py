"""`mestudio export`: the files come back exactly through the tools people use."""

from __future__ import annotations

import json
import subprocess
import wave

import cv2
import numpy as np
import pytest

from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_reader import SessionReader
from mestudio.stream.session_writer import SessionWriter
from tests.conftest import mestudio

H, W, N = 48, 64, 40
GAP = {17, 18}  # two frames the devices lost


def _frames(seed: int, shape, dtype) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    hi = 4096 if dtype == np.uint16 else 256
    return [rng.integers(0, hi, shape).astype(dtype) for _ in range(N)]


@pytest.fixture
def session(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    write_json_atomic(
        root / "manifest.json",
        {
            "format": "mestudio-session",
            "status": "complete",
            "t0_host_ns": 0,
            "participant": "P07",
            "consent": "research",
        },
    )
    (root / "recorder.json").write_text("{}")
    w = SessionWriter(root)
    streams = {
        "face": ((H, W), np.uint8, "mono8"),
        "color": ((H, W, 3), np.uint8, "rgb8"),
        "depth": ((H, W), np.uint16, "depth16"),
        "mic": ((800, 1), np.int16, "s16le"),
    }
    data = {}
    for k, (sid, (shape, dtype, fmt)) in enumerate(streams.items()):
        s = w.stream(sid, np.dtype(dtype).str, shape, fmt)
        rate = 60.0 if sid != "mic" else 60.0
        s.describe({"rate_hz": rate, "settings": {"sample_rate": 48000} if sid == "mic" else {}})
        data[sid] = _frames(k, shape, dtype)
        for i, f in enumerate(data[sid]):
            if i in GAP:
                continue
            s.append(i, None, 1_000_000_000 + i * 16_666_667, memoryview(np.ascontiguousarray(f)).cast("B"))
    for on, ap, off, aus, emo in [(3, 6, 9, [1, 2], "Surprise"), (20, 24, 30, [12], "Positive")]:
        w.event(
            {
                "topic": "results/analyzer",
                "kind": "event",
                "stream_id": "analyzer",
                "seq": on,
                "host_time_ns": 2_000_000_000,
                "device_time_ns": None,
                "body": {
                    "type": "event",
                    "kind": "micro",
                    "onset_seq": on,
                    "apex_seq": ap,
                    "offset_seq": off,
                    "aus": aus,
                    "emotion": emo,
                    "emotions": [emo],
                },
            }
        )
    w.close()
    return root, data


def test_exported_files_read_back_exactly(session, tmp_path):
    import av

    root, data = session
    out = tmp_path / "x"
    r = mestudio("export", str(root), "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    kept = [i for i in range(N) if i not in GAP]
    # OpenCV reads the mono camera back bit-exact, every recorded frame
    cap = cv2.VideoCapture(str(out / "face.mkv"))
    got = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        got.append(fr[:, :, 0])
    cap.release()
    assert len(got) == len(kept)
    for g, i in zip(got, kept):
        np.testing.assert_array_equal(g, data["face"][i])
    # ffprobe: lossless codec, and the recorded timing (the lost frames leave a 50 ms hole)
    probe = json.loads(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name:frame=pts_time",
                "-of",
                "json",
                str(out / "face.mkv"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert probe["streams"][0]["codec_name"] == "ffv1"
    pts = [float(f["pts_time"]) for f in probe["frames"]]
    assert pts[0] == pytest.approx(1.0, abs=0.002) and max(np.diff(pts)) == pytest.approx(0.05, abs=0.002)
    # colour and 16-bit depth through PyAV
    for sid, fmt in [("color", "rgb24"), ("depth", "gray16le")]:
        with av.open(str(out / f"{sid}.mkv")) as c:
            frames = [f.to_ndarray(format=fmt) for f in c.decode(video=0)]
        assert len(frames) == len(kept)
        for f, i in zip(frames, kept):
            np.testing.assert_array_equal(f.reshape(data[sid][i].shape), data[sid][i])
    # WAV: every sample at its time, the lost blocks as silence
    with wave.open(str(out / "mic.wav")) as wav:
        assert wav.getframerate() == 48000 and wav.getnchannels() == 1
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(N, 800)
    for i in range(N):
        expect = np.zeros(800, np.int16) if i in GAP else data["mic"][i][:, 0]
        np.testing.assert_array_equal(pcm[i], expect)


def test_spotted_clips_round_trip_through_the_dataset_readers(session, tmp_path):
    from mestudio.analysis.datasets.clips import read_clip
    from mestudio.analysis.datasets.readers import FourDMEReader

    root, data = session
    out = tmp_path / "x"
    assert mestudio("export", str(root), "--out", str(out), "--what", "clips").returncode == 0
    book = FourDMEReader().read(out / "clips" / "labelbook.csv")
    assert [(s.subject, s.onset, s.apex, s.offset, s.emotions) for s in book] == [
        ("P07", 3, 6, 9, ("Surprise",)),
        ("P07", 20, 24, 30, ("Positive",)),
    ]
    assert [str(a) for a in book[0].aus] == ["1", "2"]
    clip = read_clip(out / "clips", book[1])
    kept = [i for i in range(20, 31) if i not in GAP]
    assert len(clip) == len(kept)
    for c, i in zip(clip, kept):
        np.testing.assert_array_equal(c, data["face"][i])


def test_consent_none_exports_nothing(session, tmp_path):
    root, _ = session
    m = json.loads((root / "manifest.json").read_text())
    write_json_atomic(root / "manifest.json", {**m, "consent": "none"})
    r = mestudio("export", str(root), "--out", str(tmp_path / "x"))
    assert r.returncode == 3 and "consent level 'none'" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()
    r = mestudio("export", str(root), "--what", "video,pictures")
    assert r.returncode == 2 and "pictures" in r.stderr
    assert SessionReader(root).stream_ids()  # the recording itself untouched
