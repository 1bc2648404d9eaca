"""`mestudio analyze INPUT` on video files and image folders; per-frame AUs in OpenFace's columns;
the AU-trajectory spotter; the real clips in ../shared (skipped when absent)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from mestudio.analysis.au.intensity import FRAME_AUS, au_columns
from mestudio.analysis.spotting.au_track import AUTrackSpotter
from tests.analysis_fixtures import VIDEOS, needs_shared, read_video_gray
from tests.conftest import SHARED, mestudio

REFERENCE = SHARED / "data" / "reference" / "openface2_change_lighting.csv"


# -- the AU-trajectory spotter, on activity series whose truth is the series itself ---------------
def _track(levels: list[tuple[float, float]], fps: float = 30.0, seconds: float = 8.0):
    """Intervals of an activity that is ``level`` from t0 to t1 for each (t0, t1) and 0 elsewhere."""
    sp, out = AUTrackSpotter(fps), []
    for i in range(int(seconds * fps)):
        t = i / fps
        a = 3.0 if any(t0 <= t < t1 for t0, t1 in levels) else 0.1
        out += sp.push(i, t, a)
    return out + sp.flush(), sp


def test_a_held_expression_is_one_macro_interval_with_its_extent():
    ivs, _ = _track([(1.0, 3.0)])
    assert len(ivs) == 1 and ivs[0].kind == "macro"
    assert ivs[0].onset_s == pytest.approx(1.0, abs=0.04) and ivs[0].offset_s == pytest.approx(3.0, abs=0.04)


def test_short_bursts_are_left_to_the_flow_spotters():
    ivs, _ = _track([(1.0, 1.3)])
    assert ivs == []


def test_a_static_expression_is_reported_once_with_its_onset_and_excluded():
    ivs, sp = _track([(1.0, 6.5)])
    assert len(ivs) == 1 and ivs[0].kind == "static" and sp.static_excluded == 1
    assert ivs[0].onset_s == pytest.approx(1.0, abs=0.04)


def test_an_expression_still_held_at_the_end_closes_there():
    ivs, _ = _track([(6.5, 99.0)])
    assert len(ivs) == 1 and ivs[0].kind == "macro" and ivs[0].offset_s == pytest.approx(8.0, abs=0.04)


# -- columns -------------------------------------------------------------------------------------
def test_au_columns_follow_openface_spelling_and_order():
    cols = au_columns()
    assert cols[0] == "AU01_r" and cols[len(FRAME_AUS)] == "AU01_c" and cols[-1] == "AU45_c"
    if REFERENCE.exists():  # the AUs both estimate come in OpenFace 2's own order
        theirs = [c for c in pd.read_csv(REFERENCE, nrows=1, skipinitialspace=True).columns if c.startswith("AU")]
        shared = [c for c in theirs if c in cols]
        assert shared == [c for c in cols if c in theirs] and len(shared) >= 30


# -- inputs --------------------------------------------------------------------------------------
def test_image_folders_sort_by_number_and_know_the_dataset_rates(tmp_path):
    from mestudio.analysis.analyzer.errors import InputError
    from mestudio.analysis.analyzer.sources import ImageSequence

    clip = tmp_path / "sub01" / "EP02_01f"
    clip.mkdir(parents=True)
    for n in (100, 9, 46):
        cv2.imwrite(str(clip / f"img{n}.jpg"), np.full((8, 8), n, np.uint8))
    seq = ImageSequence(clip)
    assert seq.layout == "CASME II" and seq.fps == 200.0
    assert [f.name for f in seq.files] == ["img9.jpg", "img46.jpg", "img100.jpg"]
    assert [round(t, 3) for _, t, _ in seq.frames()] == [0.0, 0.005, 0.01]
    samm = tmp_path / "006" / "006_1_2"
    samm.mkdir(parents=True)
    cv2.imwrite(str(samm / "006_05562.jpg"), np.zeros((8, 8), np.uint8))
    assert ImageSequence(samm).layout == "SAMM"
    plain = tmp_path / "frames"
    plain.mkdir()
    cv2.imwrite(str(plain / "a.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="--fps"):
        ImageSequence(plain)
    assert ImageSequence(plain, fps=25).fps == 25.0


def test_bad_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "not_a_video.mp4").write_text("hello")
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "0001.png"), np.zeros((8, 8), np.uint8))
    for args, needle in (
        ([str(tmp_path / "missing.mp4")], "no such file"),
        ([str(tmp_path / "not_a_video.mp4")], "not a video"),
        ([str(tmp_path / "frames")], "--fps"),
        ([str(tmp_path / "frames"), "--fps", "-3"], "--fps"),
    ):
        r = mestudio("analyze", *args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], (args, r.stderr)


# -- the real clips ------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_smile_clip_gives_a_positive_au12_event_and_a_row_per_frame(tmp_path):
    clip = needs_shared(VIDEOS / "pyfeat_single_face.mp4")
    csv, evcsv = tmp_path / "x.csv", tmp_path / "events.csv"
    r = mestudio("analyze", str(clip), "--au-csv", str(csv), "--events-csv", str(evcsv), "--json")
    assert r.returncode == 0, r.stderr
    assert "W0000" not in r.stderr and "TensorFlow Lite" not in r.stderr  # start-up noise silenced
    report = json.loads(r.stdout)
    smiles = [e for e in report["events"] if 12 in e["aus"] and e["emotion"] == "Positive"]
    assert len(smiles) == 1, report["events"]
    s = smiles[0]
    # neutral, then a smile from about frame 24 (the lips start to part a few frames earlier)
    assert (
        12 <= s["onset_frame"] <= 26
        and s["kind"] == "macro"
        and s["onset_s"] == pytest.approx((s["onset_frame"] - 1) / 30, abs=1e-3)
    )
    frames, _ = read_video_gray(clip)  # OpenCV's count of the frames, not ours
    table = pd.read_csv(csv)
    assert table["frame"].tolist() == list(range(1, len(frames) + 1)) and table["success"].all()
    assert list(table.columns[:3]) == ["frame", "timestamp", "success"]
    # the smile is there frame by frame: AU12 low before frame 15, high while held (it eases in the
    # clip's last two frames)
    assert table["AU12_r"][:15].max() < 1.0 and table["AU12_r"][35:68].min() >= 2.0
    assert table["AU12_c"][35:68].all() and not table["AU12_c"][:15].any()
    ev = pd.read_csv(evcsv)
    assert ev["onset_frame"].tolist() == [e["onset_frame"] for e in report["events"]]


@pytest.mark.slow
def test_a_brightened_neutral_face_gives_no_expression(tmp_path):
    """A lighting change is not an expression: the neutral start of the smile clip, played forth
    and back for 4 s, its brightness ramped up by half in the middle, written as a video."""
    import av

    frames, fps = read_video_gray(needs_shared(VIDEOS / "pyfeat_single_face.mp4"))
    neutral = frames[:15]
    loop = (neutral + neutral[::-1]) * 4
    gain = np.interp(np.arange(len(loop)), [0, 40, 80, len(loop)], [1.0, 1.0, 1.5, 1.5])
    path = tmp_path / "brightened.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=int(fps), options={"crf": "12"})
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f, g in zip(loop, gain):
            img = np.clip(f.astype(np.float32) * g, 0, 255).astype(np.uint8)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="gray")))
        out.mux(s.encode())
    r = mestudio("analyze", str(path), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["frames_with_face"] == len(loop)
    assert [e for e in report["events"] if e["kind"] in ("micro", "macro")] == []


def test_per_au_r_matches_frames_and_skips_untracked_ones_and_flat_aus():
    from mestudio.analysis.evaluation.openface import per_au_r, summary

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, 40)
    theirs = pd.DataFrame({"frame": np.arange(1, 41), "success": 1, "AU01_r": x, "AU12_r": x, "AU25_r": 1.0})
    ours = pd.DataFrame({"frame": np.arange(40, 0, -1), "success": 1})  # another row order
    ours["AU01_r"] = x[::-1] * 2 + 1  # the same up to scale: r 1
    ours["AU12_r"] = -x[::-1]
    ours["AU25_r"] = x[::-1]
    ours.loc[ours["frame"] == 5, ["success", "AU12_r"]] = [0, 99.0]  # untracked: not counted
    r = per_au_r(ours, theirs)
    assert r == {1: 1.0, 12: -1.0, 25: None}
    assert summary(r) == {"mean_r": 0.0, "brow_mean_r": 1.0, "aus_compared": 2}


def test_the_benchs_real_clip_section_skips_without_shared(monkeypatch, tmp_path):
    from mestudio.benches.analyzer import _real_clips

    monkeypatch.setenv("MESTUDIO_SHARED", str(tmp_path))
    assert "absent" in _real_clips()["skipped"]
