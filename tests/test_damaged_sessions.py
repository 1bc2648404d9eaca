"""verify tells the truth, repair never deletes an intact frame, and every command meets a damaged
session with one line (never a traceback) while the intact frames stay readable."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from mestudio import cli
from mestudio.capture.pattern import read_stamp, stamp
from mestudio.stream.errors import SessionError
from mestudio.stream.repair import QUARANTINE, repair
from mestudio.stream.session import INDEX_DTYPE, INDEX_DTYPE_V1, write_json_atomic
from mestudio.stream.session_reader import SessionReader
from mestudio.stream.session_writer import SessionWriter
from mestudio.stream.verify import verify

SHAPE = (48, 64)
FPS = 30
T0 = 1_000_000_000_000


def make_session(root, frames=60, status="complete", face_stops_at=None, recorder=True, nodes=None):
    """A session as the recorder writes it: a face camera and a microphone, FPS for frames/FPS s."""
    root.mkdir(parents=True)
    write_json_atomic(
        root / "manifest.json",
        {
            "format": "mestudio-session",
            "status": status,
            "consent": "research",
            "t0_host_ns": T0,
            "nodes": nodes or {"face": {"role": "device", "exit": "exited with code 0"}},
        },
    )
    w = SessionWriter(root)
    face = w.stream("face", "|u1", SHAPE, "mono8")
    face.describe({"rate_hz": FPS, "media": "video"})
    mic = w.stream("mic", "<i2", (1600, 1), "s16le")
    mic.describe({"rate_hz": FPS, "media": "audio"})
    step = 1_000_000_000 // FPS
    face_frames = frames if face_stops_at is None else face_stops_at
    for i in range(frames):
        t = T0 + i * step
        if i < face_frames:
            face.append(i, None, t, memoryview(stamp(np.full(SHAPE, i % 251, np.uint8), i)))
        mic.append(i, None, t, np.full((1600, 1), i, np.int16).data.cast("B"))
    end_t = T0 + frames * step
    for sid, n in (("face", face_frames), ("mic", frames)):
        w.event(
            {
                "topic": f"end/{sid}",
                "kind": "end",
                "stream_id": sid,
                "seq": 0,
                "host_time_ns": end_t,
                "body": {"frames": n},
            }
        )
    w.event(
        {
            "topic": "session/stop",
            "kind": "event",
            "stream_id": "supervisor",
            "seq": 1,
            "host_time_ns": end_t,
            "body": {},
        }
    )
    w.flush()
    w.close()
    if recorder:
        write_json_atomic(root / "recorder.json", {"stopped_because": "stopped", "rejected": {}})
    return root


def problems(rep) -> str:
    return "\n".join(rep.problems + [p for s in rep.streams for p in s.problems])


def test_an_intact_session_is_ok_with_checksums(tmp_path):
    rep = verify(make_session(tmp_path / "s"))
    assert rep.ok, problems(rep)
    assert all(s.checksums and s.checksum_mismatches == 0 for s in rep.streams)


@pytest.mark.parametrize(
    "damage, words",
    [
        ("truncate-frames", "point past the end of frames.bin"),
        ("delete-frames", "point past the end of frames.bin"),
        ("flip-bytes", "fail their CRC32C checksum (seq 7, 8)"),
        ("no-recorder-json", "no recorder.json"),
    ],
)
def test_verify_names_the_damage_and_exits_non_zero(tmp_path, damage, words):
    root = make_session(tmp_path / "s")
    face = root / "streams" / "face"
    fb = SHAPE[0] * SHAPE[1]
    if damage == "truncate-frames":
        os.truncate(face / "frames.bin", 50 * fb)
    elif damage == "delete-frames":
        (face / "frames.bin").unlink()
    elif damage == "flip-bytes":
        with open(face / "frames.bin", "r+b") as f:
            for seq in (7, 8):
                f.seek(seq * fb + 100)
                f.write(b"\xaa")
    else:
        (root / "recorder.json").unlink()
    rep = verify(root, do_repair=False)
    assert not rep.ok and words in problems(rep)
    if damage != "no-recorder-json":
        assert "stream face" in problems(rep) and all(s.ok for s in rep.streams if s.stream_id == "mic")
    if damage == "truncate-frames":  # the intact frames stay readable
        frames = list(SessionReader(root).stream("face").frames())
        assert len(frames) == 50 and all(read_stamp(f) == r["seq"] for r, f in frames)
    r = cli.main(["verify", str(root), "--no-repair"])
    assert r == 1


def test_a_camera_that_died_before_the_session_ended_is_a_problem(tmp_path):
    # 25 s session, the camera's last frame 5 s in: its END count matches what it sent (no gap)
    root = make_session(tmp_path / "s", frames=25 * FPS, face_stops_at=5 * FPS)
    rep = verify(root)
    face = next(s for s in rep.streams if s.stream_id == "face")
    assert not rep.ok and face.ended_early_s == pytest.approx(20.0, abs=0.1)
    assert "stream face: ended 20.0 s before the session did" in problems(rep)
    assert face.gaps == 0 and face.unrecorded == 0  # no other check would have seen it


def test_a_stream_under_95_percent_of_its_rate_and_a_dead_node_are_problems(tmp_path):
    nodes = {"face": {"role": "device", "exit": "killed by signal SIGKILL"}}
    root = make_session(tmp_path / "s", nodes=nodes)
    info = json.loads((root / "streams" / "mic" / "info.json").read_text())
    write_json_atomic(root / "streams" / "mic" / "info.json", {**info, "rate_hz": 40})
    text = problems(verify(root))
    assert "stream mic: delivered 30.0 frames/s, under 95% of its configured 40" in text
    assert "node face (device) killed by signal SIGKILL" in text


def test_an_old_session_without_checksums_is_still_read(tmp_path):
    root = make_session(tmp_path / "s")
    d = root / "streams" / "face"
    idx = np.fromfile(d / "index.bin", INDEX_DTYPE)
    old = np.zeros(len(idx), INDEX_DTYPE_V1)
    for name in INDEX_DTYPE_V1.names:
        old[name] = idx[name]
    old.tofile(d / "index.bin")
    info = json.loads((d / "info.json").read_text())
    del info["index_version"]
    write_json_atomic(d / "info.json", info)
    rep = verify(root)
    face = next(s for s in rep.streams if s.stream_id == "face")
    assert rep.ok and face.frames == 60 and not face.checksums
    assert [read_stamp(f) for _, f in SessionReader(root).stream("face").frames()] == list(range(60))


def test_repair_quarantines_a_garbled_record_and_keeps_every_intact_frame(tmp_path):
    root = make_session(tmp_path / "s", status="failed")
    d = root / "streams" / "face"
    raw = bytearray((d / "index.bin").read_bytes())
    at = 20 * INDEX_DTYPE.itemsize + 32  # record 20's offset field
    raw[at : at + 8] = (10**15).to_bytes(8, "little")
    (d / "index.bin").write_bytes(bytes(raw))
    done = repair(root)
    assert done["face"]["quarantined"] == 1 and done["face"]["quarantined_records"] == [20]
    assert (d / QUARANTINE).stat().st_size == INDEX_DTYPE.itemsize
    seqs = [int(r["seq"]) for r, f in SessionReader(root).stream("face").frames() if read_stamp(f) == r["seq"]]
    assert seqs == [i for i in range(60) if i != 20]  # 59 intact frames, none deleted
    assert (d / "frames.bin").stat().st_size == 60 * SHAPE[0] * SHAPE[1]  # frame 20's bytes kept too
    assert repair(root) == {}  # a second repair finds nothing more to do


def _garble(path, data: bytes) -> None:
    path.write_bytes(data)


DAMAGES = {
    "manifest-random-bytes": lambda r: _garble(r / "manifest.json", os.urandom(300)),
    "manifest-json-list": lambda r: _garble(r / "manifest.json", b"[1, 2, 3]"),
    "manifest-half-written": lambda r: _garble(r / "manifest.json", (r / "manifest.json").read_bytes()[:40]),
    "manifest-bad-types": lambda r: _garble(
        r / "manifest.json", json.dumps({"format": "mestudio-session", "t0_host_ns": "soon", "config": [1]}).encode()
    ),
    "manifest-deleted": lambda r: (r / "manifest.json").unlink(),
    "info-random-bytes": lambda r: _garble(r / "streams" / "face" / "info.json", os.urandom(200)),
    "info-json-list": lambda r: _garble(r / "streams" / "face" / "info.json", b"[]"),
    "info-bad-dtype": lambda r: _garble(
        r / "streams" / "face" / "info.json", b'{"stream_id": "face", "dtype": "O", "shape": [48, 64]}'
    ),
    "info-bad-shape": lambda r: _garble(
        r / "streams" / "face" / "info.json", b'{"stream_id": "face", "dtype": "|u1", "shape": "48x64"}'
    ),
    "info-unknown-index-version": lambda r: _garble(
        r / "streams" / "face" / "info.json",
        b'{"stream_id": "face", "dtype": "|u1", "shape": [48, 64], "index_version": 99}',
    ),
    "events-binary-lines": lambda r: open(r / "events.jsonl", "ab").write(b'\xff\xfe\x00junk\n[1,2]\n"str"\n'),
    "events-bad-fields": lambda r: open(r / "events.jsonl", "a").write(
        '{"topic": 5}\n{"topic": "markers/x", "kind": "bogus", "host_time_ns": "later"}\n'
        '{"topic": "../x", "kind": "event", "host_time_ns": 1, "stream_id": "../../x", "body": [1]}\n'
    ),
    "events-deleted": lambda r: (r / "events.jsonl").unlink(),
    "recorder-json-random": lambda r: _garble(r / "recorder.json", os.urandom(100)),
    "frames-truncated": lambda r: os.truncate(r / "streams" / "face" / "frames.bin", 1000),
    "frames-deleted": lambda r: (r / "streams" / "face" / "frames.bin").unlink(),
    "index-partial-record": lambda r: open(r / "streams" / "face" / "index.bin", "ab").write(b"\x01" * 13),
    "index-random-bytes": lambda r: _garble(r / "streams" / "face" / "index.bin", os.urandom(INDEX_DTYPE.itemsize * 7)),
    "index-deleted": lambda r: (r / "streams" / "face" / "index.bin").unlink(),
    "frames-bytes-flipped": lambda r: open(r / "streams" / "face" / "frames.bin", "r+b").write(b"\xaa" * 64),
    "stream-folder-is-a-file": lambda r: (
        shutil.rmtree(r / "streams" / "mic"),
        _garble(r / "streams" / "mic", b"x"),
    ),
}


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    return make_session(tmp_path_factory.mktemp("base") / "s", frames=30)


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_command_meets_a_damaged_session_with_one_line(intact, tmp_path, damage, capfd):
    pytest.importorskip("av")
    root = tmp_path / "s"
    shutil.copytree(intact, root)
    DAMAGES[damage](root)
    for argv in (
        ["verify", str(root)],
        ["replay", str(root), "--speed", "1000"],
        ["export", str(root), "--out", str(tmp_path / "export"), "--what", "video,audio"],
        ["analyze", str(root), "--quiet", "--json"],
    ):
        code = cli.main(argv)  # a traceback fails the test here
        err = capfd.readouterr().err
        ours = [ln for ln in err.splitlines() if ln.startswith("mestudio")]  # not mediapipe's own log
        assert "Traceback" not in err and len(ours) <= 1, (argv[0], err)
        assert code == 0 or ours or argv[0] == "verify", (argv[0], code, err)
    # whatever the damage, what is intact stays readable
    try:
        reader = SessionReader(root)
    except SessionError:
        assert damage.startswith("manifest")
        return
    for sid in reader.stream_ids():
        try:
            st = reader.stream(sid)
        except SessionError:
            assert damage.startswith("info") and sid == "face"
            continue
        for rec, frame in st.frames():
            if sid == "face" and damage != "frames-bytes-flipped":
                assert read_stamp(frame) == rec["seq"]
    if damage == "frames-bytes-flipped":
        rep = verify(root)
        assert "fail their CRC32C checksum (seq 0)" in problems(rep)


def test_frames_damaged_on_disk_are_left_out_of_replay_and_export_and_said(tmp_path):
    """Two face frames whose bytes fail their CRC32C: the replay and the exported video go on
    past them (before, one undecodable frame ended both), and both say which."""
    import av

    from mestudio.stream import wire
    from mestudio.stream.export import export_video
    from mestudio.stream.replayer import messages

    root = make_session(tmp_path / "s")
    fb = SHAPE[0] * SHAPE[1]
    with open(root / "streams" / "face" / "frames.bin", "r+b") as f:
        for seq in (7, 8):
            f.seek(seq * fb + 100)
            f.write(b"\xaa")
    reader = SessionReader(root)
    damaged: list[str] = []
    decoded = [wire.decode(parts) for _, parts in messages(reader, ["face"], damaged)]
    frame_seqs = [m.header.seq for m in decoded if m.header.kind == wire.Kind.FRAME]
    assert frame_seqs == [s for s in range(60) if s not in (7, 8)]
    assert len(damaged) == 2 and "seq 7" in damaged[0] and "CRC32C" in damaged[0]
    out: list[str] = []
    path = export_video(reader, "face", tmp_path / "face.mkv", out)
    assert len(out) == 2
    with av.open(str(path)) as c:
        got = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert [read_stamp(g) for g in got] == frame_seqs  # every intact frame, bit-exact, in order
    r = cli.main(["export", str(root), "--out", str(tmp_path / "e"), "--what", "video", "--json"])
    assert r == 0
