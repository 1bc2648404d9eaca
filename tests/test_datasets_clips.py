"""Clip folders in dataset layouts, clips cut from a mestudio session, and the synthetic set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mestudio.analysis.datasets import (
    ClipNotFoundError,
    Sample,
    intervals_from_events,
    read_clip,
    session_clips,
    synthetic_dataset,
    write_clip,
)
from tests.conftest import SHARED


def frames(n: int, h: int = 24, w: int = 20) -> np.ndarray:
    return (np.arange(n)[:, None, None] * 10 + np.zeros((n, h, w))).astype(np.uint8)


def test_casme2_layout_picks_onset_to_offset(tmp_path):
    write_clip(tmp_path / "sub01" / "EP02_01f", frames(20), first=40, pattern="img{n}.png")
    s = Sample("casme2", "01", "EP02_01f", onset=46, apex=50, offset=52)
    clip = read_clip(tmp_path, s)
    assert clip.shape == (7, 24, 20)
    assert clip[:, 0, 0].tolist() == [60, 70, 80, 90, 100, 110, 120]  # frames 46..52 in number order


def test_samm_layout_and_numeric_order(tmp_path):
    folder = tmp_path / "006" / "006_1_2"
    write_clip(folder, frames(12), first=5562, pattern="006_{n:05d}.png")
    clip = read_clip(tmp_path, Sample("samm", "006", "006_1_2", 5562, 5565, 5573))
    assert clip.shape[0] == 12 and np.all(np.diff(clip[:, 0, 0].astype(int)) == 10)


def test_cut_folder_without_frame_range(tmp_path):
    write_clip(tmp_path / "S01" / "c1", frames(5), first=1)
    assert read_clip(tmp_path, Sample("4dme", "S01", "c1", 100, 102, 104)).shape[0] == 5  # already cut


def test_missing_clip_is_a_clear_error(tmp_path):
    with pytest.raises(ClipNotFoundError, match="--clips"):
        read_clip(tmp_path, Sample("casme2", "01", "nope"))
    with pytest.raises(FileNotFoundError):
        read_clip(tmp_path, Sample("casme2", "01", "nope"))


def _session(tmp_path, n=30, fps=100):
    from mestudio.stream.session_writer import SessionWriter

    root = tmp_path / "sess"
    root.mkdir()
    (root / "manifest.json").write_text(
        json.dumps({"format": "mestudio-session", "t0_host_ns": 1_000_000_000, "participant": "P07"})
    )
    w = SessionWriter(root)
    sw = w.stream("cam", "uint8", (16, 12, 3), "bgr8")
    for i in range(n):
        img = np.full((16, 12, 3), i, np.uint8)
        sw.append(i, None, 1_000_000_000 + i * 1_000_000_000 // fps, img.tobytes())
    w.event({"type": "spot", "onset_s": 0.05, "apex_s": 0.08, "offset_s": 0.12, "aus": [4, 7], "emotions": ["disgust"]})
    w.event({"type": "marker", "onset_s": 0.0, "offset_s": 0.2})
    # as the recorder stores the analyzer's results: wire record around the analyzer's body
    analyzer = {
        "type": "event",
        "kind": "micro",
        "onset_seq": 20,
        "apex_seq": 22,
        "offset_seq": 24,
        "onset_s": 1.2,
        "offset_s": 1.24,
        "aus": [12],
        "emotions": ["Positive"],
    }
    w.event({"topic": "results/analyzer", "kind": "event", "body": analyzer})
    w.event({"topic": "results/analyzer", "kind": "event", "body": {**analyzer, "kind": "blink", "aus": [45]}})
    w.event(
        {
            "topic": "results/analyzer",
            "kind": "event",  # host-time seconds only
            "body": {"type": "event", "kind": "macro", "onset_s": 1.01, "offset_s": 1.03, "aus": "6+12"},
        }
    )
    w.close()
    return root


def test_session_clips_from_spotted_events(tmp_path):
    from mestudio.stream.session_reader import SessionReader

    root = _session(tmp_path)
    ivs = intervals_from_events(SessionReader(root).events())
    assert len(ivs) == 3  # not the marker, not the blink
    book, clips = session_clips(root, "cam", ivs)
    assert book[0].subject == "P07" and book[0].emotions == ("Negative",)
    assert sorted(a.number for a in book[0].aus) == [4, 7]
    assert clips[0].ndim == 3 and clips[0].shape[1:] == (16, 12)
    assert clips[0][:, 0, 0].tolist() == list(range(5, 13))  # frames at 50..120 ms of session time
    assert book[0].apex == 8
    assert clips[1][:, 0, 0].tolist() == list(range(20, 25)) and book[1].apex == 22  # by sequence number
    assert book[1].emotions == ("Positive",) and book[1].kind == "micro"
    assert clips[2][:, 0, 0].tolist() == [1, 2, 3] and book[2].kind == "macro"  # host seconds 1.01..1.03


def test_session_interval_outside_recording(tmp_path):
    root = _session(tmp_path)
    with pytest.raises(ClipNotFoundError, match="holds no frames"):
        session_clips(root, "cam", [{"onset_s": 5.0, "offset_s": 6.0}])


def test_synthetic_set_is_seeded_and_labelled():
    a_book, a = synthetic_dataset(3, 5, size=32, seed=1)
    b_book, b = synthetic_dataset(3, 5, size=32, seed=1)
    assert len(a_book) == 15 and len(set(a_book.subjects)) == 3
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a_book.emotion_matrix().sum(axis=1).tolist() == [1] * 15
    assert all(c.dtype == np.uint8 and c.shape[1:] == (32, 32) for c in a)
    # the apex frame differs from the onset frame: there is motion to learn
    s, c = a_book[0], a[0]
    assert np.abs(c[s.apex].astype(int) - c[s.onset]).sum() > 0


def test_real_casme2_book_with_a_partial_clip_folder(tmp_path):
    """Training data from a label book: found clips load, missing ones are listed, never dropped silently."""
    from mestudio.analysis.training.sources import Source, load_source

    book_path = SHARED / "data" / "labels" / "CASME2-coding-20190701.xlsx"
    if not book_path.is_file():
        pytest.skip(f"{book_path} not present")
    write_clip(tmp_path / "sub01" / "EP02_01f", frames(50), first=40)  # onset 46 .. offset 86
    write_clip(tmp_path / "sub01" / "EP03_02", frames(40), first=130)  # onset 131 .. offset 161
    with pytest.raises(ClipNotFoundError):
        load_source(Source("casme2", str(book_path), str(tmp_path)))
    book, clips, missing = load_source(Source("casme2", str(book_path), str(tmp_path), skip_missing=True))
    assert [s.clip for s in book] == ["EP02_01f", "EP03_02"]
    assert [len(c) for c in clips] == [86 - 46 + 1, 161 - 131 + 1]
    assert len(missing) == 253 and all("no clip folder" in m for m in missing)
