"""Streams compressed losslessly while recorded (FFV1) read back bit-exactly, and a cut one is repaired.

Frames go over a real PUSH/PULL ipc pair into the Recorder with ``[recorder.compress]``; the
frames the test made are the ground truth for what SessionReader, verify and repair give back."""

from __future__ import annotations

import numpy as np
import pytest
import zmq

from mestudio.capture.pattern import read_stamp, stamp
from mestudio.config.schema import RecorderSection
from mestudio.stream import messages, wire
from mestudio.stream.recorder import Recorder
from mestudio.stream.recorder_node import drain
from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_reader import SessionReader
from mestudio.stream.verify import repair, verify

pytest.importorskip("av")

FACE, DEPTH = (96, 128), (48, 64)


def picture(i: int, shape, dtype) -> np.ndarray:
    """A smooth scene with sensor noise and the frame's number stamped in (compressible, not flat)."""
    rng = np.random.default_rng(i)
    y, x = np.mgrid[: shape[0], : shape[1]]
    top = 255 if dtype == np.uint8 else 4000
    img = (top * (0.5 + 0.4 * np.sin(x / 9 + i / 5) * np.cos(y / 7))).astype(np.int64)
    img = np.clip(img + rng.integers(-3, 4, shape), 0, top).astype(dtype)
    return stamp(img, i) if dtype == np.uint8 else img


@pytest.fixture
def recorded(zctx, tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    write_json_atomic(root / "manifest.json", {"format": "mestudio-session", "status": "recording", "t0_host_ns": 0})
    cfg = RecorderSection(compress={"face": "ffv1", "depth": "ffv1", "mic": "ffv1"})
    rec = Recorder(root, compress=dict(cfg.compress))
    pull, push = zctx.socket(zmq.PULL), zctx.socket(zmq.PUSH)
    for s in (pull, push):
        s.linger = 0
    pull.bind(f"ipc://{tmp_path}/rec")
    push.connect(f"ipc://{tmp_path}/rec")
    sent: dict[str, list[np.ndarray]] = {"face": [], "depth": [], "mic": []}
    for i in range(12):
        for sid, frame in (
            ("face", picture(i, FACE, np.uint8)),
            ("depth", picture(i, DEPTH, np.uint16)),
            ("mic", np.full((800, 1), i, np.int16)),
        ):
            sent[sid].append(frame)
            wire.send(push, wire.frame_parts(sid, i, frame, host_time_ns=wire.now_ns()))
    while rec.messages < 36:
        assert pull.poll(10_000), "frames sent over ipc never arrived"
        drain(pull, rec)
    rec.flush(wait=False)  # the recorder's periodic flush, then its last one
    rec.flush()
    rec.close()
    push.close()
    pull.close()
    return root, sent, rec


def test_compressed_streams_read_back_bit_exactly_and_verify(recorded):
    root, sent, rec = recorded
    r = SessionReader(root)
    for sid, shape in (("face", FACE), ("depth", DEPTH)):
        st = r.stream(sid)
        assert st.codec == "ffv1" and len(st) == 12 and st.info["shape"] == list(shape)
        for i, (idx, frame) in enumerate(st.frames()):
            assert idx["seq"] == i and frame.dtype == sent[sid][i].dtype
            assert np.array_equal(frame, sent[sid][i])
        assert all(np.array_equal(st.frame(i), sent[sid][i]) for i in (7, 11, 3, 0))  # any order: keyframes
        kept = [frame for _, frame in st.frames()]  # frames kept past the next decode stay theirs
        assert all(np.array_equal(k, f) for k, f in zip(kept, sent[sid]))
        assert st.data_bytes < sum(f.nbytes for f in sent[sid])  # smaller on disk
        assert rec.writer.streams[sid].raw_bytes == sum(f.nbytes for f in sent[sid])
    assert read_stamp(r.stream("face").frame(5)) == 5
    # audio is no picture: recorded raw, and the reason is on the timeline
    assert r.stream("mic").codec is None and np.array_equal(r.stream("mic").frame(3), sent["mic"][3])
    notes = [e["body"]["note"] for e in r.events() if e["topic"] == messages.RECORDER_REJECTED]
    assert any("'mic'" in n and "recorded uncompressed" in n for n in notes)
    rep = verify(root)
    assert {s.stream_id: s.frames for s in rep.streams} == {"face": 12, "depth": 12, "mic": 12}
    assert not r.stream("face").checksum_mismatches()


def test_a_cut_compressed_stream_keeps_every_whole_frame(recorded):
    root, sent, _ = recorded
    data = root / "streams" / "face" / "frames.bin"
    last = SessionReader(root).stream("face").index[-1]
    with open(data, "r+b") as f:  # the crash: the last packet only half on disk
        f.truncate(int(last["offset"]) + int(last["nbytes"]) // 2)
    assert len(SessionReader(root).stream("face")) == 11  # the torn record is never handed out
    repair(root)
    st = SessionReader(root).stream("face")
    assert len(st) == 11 and st.data_bytes == int(last["offset"])
    assert all(np.array_equal(frame, sent["face"][i]) for i, (_, frame) in enumerate(st.frames()))


def test_an_unknown_codec_in_the_config_is_refused_by_name():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="ffv1"):
        RecorderSection(compress={"face": "h264"})


@pytest.mark.slow
def test_a_session_recorded_compressed_verifies_and_exports_bit_exactly(tmp_path):
    """`mestudio run` with the camera compressed: every frame carries its device's stamp (the
    ground truth), verify passes, and export's FFV1/MKV read by OpenCV holds the same pixels."""
    import json

    import cv2

    from tests.conftest import SMALL_RIG, mestudio, write_config

    cfg = write_config(tmp_path / "rig.toml", SMALL_RIG + '[recorder.compress]\ncam = "ffv1"\n')
    r = mestudio("run", str(cfg), "--out", str(tmp_path / "out"), "--duration", "2", "--quiet", timeout=180)
    (root,) = [p.parent for p in (tmp_path / "out").glob("*/manifest.json")]
    v = mestudio("verify", str(root), "--json", "--no-repair")
    assert v.returncode == 0 and json.loads(v.stdout)["ok"], r.stderr[-2000:] + v.stdout[-2000:]
    cam = SessionReader(root).stream("cam")
    assert cam.codec == "ffv1" and len(cam) > 30 and cam.data_bytes < len(cam) * 320 * 240
    recorded = []
    for rec, frame in cam.frames():
        assert read_stamp(frame) == rec["seq"]
        recorded.append(frame.copy())
    out = tmp_path / "x"
    assert mestudio("export", str(root), "--out", str(out), "--what", "video").returncode == 0
    cap = cv2.VideoCapture(str(out / "cam.mkv"))
    got = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        got.append(fr[:, :, 0])
    cap.release()
    assert len(got) == len(recorded) and all(np.array_equal(g, f) for g, f in zip(got, recorded))
