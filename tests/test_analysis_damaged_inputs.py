"""A lab's own files as `mestudio analyze` meets them: phone videos stored on their side, a
damaged packet, a truncated file, an unreadable image.  The upright frames are checked against
ffmpeg's own decoding of the same file (the tool people read videos with), and a damaged frame
must cost that frame, never the analysis of the rest."""

from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.analysis_fixtures import VIDEOS, needs_shared
from tests.conftest import mestudio

W, H, N, FPS = 64, 48, 12, 10


def _picture(i: int) -> np.ndarray:
    """An asymmetric grey picture (a turn or a mirror changes it), a little different each frame."""
    y, x = np.mgrid[:H, :W]
    img = (x * 3 + y + i * 5) % 256
    img[4:12, 6:30] = 255  # a bar near the top left corner
    return img.astype(np.uint8)


def _write(path, codec: str, frames: list[np.ndarray], fps: int = FPS) -> None:
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=fps)
        s.width, s.height = frames[0].shape[1], frames[0].shape[0]
        s.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            s.options = {"crf": "0"}
        for f in frames:
            out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="gray")))
        out.mux(s.encode())


def _ffmpeg_gray(path) -> np.ndarray:
    """Every frame as ffmpeg decodes it (display rotation applied, as ffmpeg does by default)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8)


def _frames(path, fps=None):
    from mestudio.analysis.analyzer.sources import VideoFile

    with VideoFile(path, fps) as v:
        got = list(v.frames())
        return got, v


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_a_rotated_video_is_read_upright_as_ffmpeg_shows_it(tmp_path, rotate):
    stored = tmp_path / "stored.mp4"
    _write(stored, "libx264", [_picture(i) for i in range(N)])
    tagged = tmp_path / f"rotate{rotate}.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(stored), "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", str(tagged)],
        check=True,
    )
    got, v = _frames(tagged)
    shape = (H, W) if rotate == 180 else (W, H)
    assert [f.shape for _, _, f in got] == [shape] * N
    theirs = _ffmpeg_gray(tagged).reshape(N, *shape)
    assert np.array_equal(np.stack([f for _, _, f in got]), theirs)
    assert v.rotation != 0 and any("upright" in n for n in v.notes())
    plain, p = _frames(stored)
    assert p.rotation == 0 and p.notes() == [] and plain[0][2].shape == (H, W)


def _packets(path) -> list[tuple[int, int]]:
    import av

    with av.open(str(path)) as c:
        return [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]


def test_a_damaged_packet_costs_its_frame_only(tmp_path):
    path = tmp_path / "mjpeg.avi"
    _write(path, "mjpeg", [_picture(i) for i in range(N)])
    data = bytearray(path.read_bytes())
    for k in (0, 5):  # the first frame too: the clock then starts at the first frame that decodes
        pos, size = _packets(path)[k]
        data[pos : pos + size] = bytes(size)
    bad = tmp_path / "damaged.avi"
    bad.write_bytes(bytes(data))
    got, v = _frames(bad)
    assert [seq for seq, _, _ in got] == list(range(N))
    assert [seq for seq, _, f in got if f is None] == [0, 5]
    times = [t for _, t, _ in got]
    assert times[1] == 0.0 and times[6] == pytest.approx(0.5) and times[-1] == pytest.approx((N - 2) / FPS)
    assert len(v.undecodable) == 2 and v.decoded == N - 2
    (note,) = v.notes()
    assert "2 video packets" in note and "frame 1 " in note and "frame 6 " in note
    assert v.first_time() == pytest.approx(1 / FPS)
    good = [f for _, _, f in got if f is not None]
    assert np.abs(good[0].astype(int) - _picture(1)).mean() < 3  # the frames around it are intact


def test_a_truncated_video_keeps_its_frames_and_says_it_ended_early(tmp_path):
    path = tmp_path / "whole.avi"
    _write(path, "mjpeg", [_picture(i) for i in range(N)])
    pos, _ = _packets(path)[8]
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[:pos])
    got, v = _frames(cut)
    assert 6 <= len(got) <= 8 and all(f is not None for _, _, f in got)
    (note,) = v.notes()
    assert f"of the {N} frames its header announces" in note


def test_an_unreadable_image_is_a_frame_without_a_face(tmp_path):
    from mestudio.analysis.analyzer.sources import ImageSequence

    for i in range(8):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), _picture(i))
    (tmp_path / "img3.png").write_bytes(b"not a png")
    seq = ImageSequence(tmp_path, fps=25)
    got = list(seq.frames())
    assert [i for i, _, f in got if f is None] == [3] and len(got) == 8
    assert seq.unreadable == ["img3.png"] and "img3.png" in seq.notes()[0]


@pytest.mark.slow
def test_analyze_goes_past_a_damaged_frame_and_reads_a_phone_video_upright(tmp_path):
    """The smile clip as MJPEG with one packet zeroed, and turned on its side with a display
    rotation: the run ends normally, the damaged frame is a row without a face, and the turned
    clip gives the events of the upright one."""
    clip = needs_shared(VIDEOS / "pyfeat_single_face.mp4")
    mj = tmp_path / "smile.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-an", "-c:v", "mjpeg", "-q:v", "3", str(mj)], check=True)
    data = bytearray(mj.read_bytes())
    pos, size = _packets(mj)[40]
    data[pos : pos + size] = bytes(size)
    mj.write_bytes(bytes(data))
    csv = tmp_path / "au.csv"
    r = mestudio("analyze", str(mj), "--au-csv", str(csv), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["frames"] == 72 and report["frames_damaged"] == 1 and report["frames_with_face"] == 71
    assert any("frame 41 " in n for n in report["notes"])
    table = pd.read_csv(csv)
    assert table["frame"].tolist() == list(range(1, 73))
    assert table["success"].tolist() == [1] * 40 + [0] + [1] * 31

    sideways = tmp_path / "sideways.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(clip), "-vf", "transpose=2", "-c:v", "libx264", "-crf", "12"]
        + [str(sideways)],
        check=True,
    )
    phone = tmp_path / "phone.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(sideways), "-c", "copy", "-metadata:s:v:0", "rotate=270", str(phone)],
        check=True,
    )
    upright = json.loads(mestudio("analyze", str(clip), "--json").stdout)
    turned = json.loads(mestudio("analyze", str(phone), "--json").stdout)
    assert turned["rotation"] == 270 and upright["rotation"] == 0
    key = [(e["kind"], e["aus"], e["emotion"]) for e in upright["events"]]
    assert [(e["kind"], e["aus"], e["emotion"]) for e in turned["events"]] == key


def _session(root, frames, compress: bool):
    from mestudio.stream.session import FORMAT
    from mestudio.stream.session_writer import SessionWriter

    root.mkdir()
    manifest = {"format": FORMAT, "devices": [{"name": "face", "kind": "synthetic-camera", "fps": 30.0}]}
    (root / "manifest.json").write_text(json.dumps({**manifest, "config": {"analyzer": {}}}))
    w = SessionWriter(root, {"face": "ffv1"} if compress else None)
    s = w.stream("face", "|u1", frames.shape[1:], "mono8")
    for i, f in enumerate(frames):
        s.append(i, None, int(i * 1e9 / 30), f.tobytes())
    w.close()
    return root


def _damage(root, seq: int, fix_checksum: bool = False) -> None:
    """Overwrite the middle of frame ``seq``'s stored bytes; ``fix_checksum``: and make its CRC32C
    match again (bytes that pass their checksum but do not decode)."""
    from mestudio.stream.session import frame_checksum, index_dtype
    from mestudio.stream.session_reader import SessionReader

    sr = SessionReader(root).stream("face")
    rec = sr.index[seq]
    o, n = int(rec["offset"]), int(rec["nbytes"])
    data = sr.folder / "frames.bin"
    with open(data, "r+b") as f:
        f.seek(o + n // 4)
        f.write(bytes(n // 2))
    if fix_checksum:
        idx = np.fromfile(sr.folder / "index.bin", index_dtype(sr.info))
        idx[seq]["crc32c"] = frame_checksum(data.read_bytes()[o : o + n])
        idx.tofile(sr.folder / "index.bin")


@pytest.mark.parametrize("compress", [False, True])
def test_a_session_frame_damaged_on_disk_costs_that_frame(tmp_path, compress):
    from mestudio.analysis.analyzer.offline import analyze_session
    from mestudio.stream.session_reader import SessionReader
    from tests.analysis_fixtures import face_frames

    frames = face_frames(seconds=2.0, fps=30.0, width=320, height=240)
    root = _session(tmp_path / "s", frames, compress)
    _damage(root, 20)
    if compress:
        _damage(root, 35, fix_checksum=True)
    bad = [20, 35] if compress else [20]
    got = list(SessionReader(root).stream("face").frames_or_damage())
    assert [int(r["seq"]) for r, f, _ in got if f is None] == bad
    assert any("CRC32C" in (why or "") for _, _, why in got)
    if compress:
        assert "does not decode" in got[35][2] or "decoded" in got[35][2]
    rep = analyze_session(root)
    assert rep["frames"] == len(frames) and rep["frames_damaged"] == len(bad)
    assert rep["frames_with_face"] == len(frames) - len(bad)
    assert f"{len(bad)} frames damaged on disk" in rep["notes"][0]
    failed = [r["frame"] for r in rep["au_frames"] if not r["success"]]
    assert failed == [s + 1 for s in bad] and len(rep["au_frames"]) == len(frames)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_a_12_bit_camera_in_16_bit_files_is_read_at_its_own_depth(tmp_path, ext):
    """OpenCV's own 16 -> 8 bit conversion keeps the top byte, so 12 bits of a scientific
    camera's picture come out as 0-15 (a black face); the sequence is shifted by its own depth."""
    from mestudio.analysis.analyzer.sources import ImageSequence

    pics = [_picture(i).astype(np.uint16) * 16 + 7 for i in range(4)]  # 12 bits: 7 .. 4087
    for i, pic in enumerate(pics):
        cv2.imwrite(str(tmp_path / f"f{i}{ext}"), pic)
    assert cv2.imread(str(tmp_path / f"f0{ext}"), cv2.IMREAD_GRAYSCALE).max() <= 16  # what OpenCV alone gives
    seq = ImageSequence(tmp_path, fps=100)
    got = [f for _, _, f in seq.frames()]
    assert all(g.dtype == np.uint8 for g in got) and seq.depth.shift == 4
    assert all(np.array_equal(g, _picture(i)) for i, g in enumerate(got))  # the 8 bits the camera's 12 hold
    assert "shifted down by 4" in seq.notes()[0]


def test_a_16_bit_video_is_read_at_its_own_depth(tmp_path):
    """The same 12 bits in a gray16le FFV1 video (what a lab's camera software or our own export
    of a 16-bit stream writes): FFmpeg's gray conversion would keep the top byte."""
    import av

    path = tmp_path / "mono12.mkv"
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "gray16le"
        for i in range(N):
            pic = _picture(i).astype(np.uint16) * 16 + 7
            out.mux(s.encode(av.VideoFrame.from_ndarray(pic, format="gray16le")))
        out.mux(s.encode())
    got, v = _frames(path)
    assert [f.dtype for _, _, f in got] == [np.uint8] * N and v.depth.shift == 4
    assert all(np.array_equal(f, _picture(i)) for i, (_, _, f) in enumerate(got))
    assert any("shifted down by 4" in n for n in v.notes())


def test_a_cover_picture_is_not_taken_for_the_video(tmp_path):
    """A Matroska file whose first video stream is a one-picture cover (what some tools write):
    the clip's own pictures are read, FFmpeg's choice of the main stream."""
    stored = tmp_path / "clip.mp4"
    _write(stored, "libx264", [_picture(i) for i in range(N)])
    cover = tmp_path / "cover.png"
    cv2.imwrite(str(cover), np.zeros((H, W), np.uint8))
    both = tmp_path / "with_cover.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(cover), "-i", str(stored), "-map", "0", "-map", "1:v"]
        + ["-c:v:0", "mjpeg", "-c:v:1", "copy", str(both)],
        check=True,
    )
    got, _ = _frames(both)
    assert len(got) == N and np.abs(got[3][2].astype(int) - _picture(3)).mean() < 1
