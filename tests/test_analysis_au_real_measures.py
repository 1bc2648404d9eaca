"""The measures that hold on real faces: brows read from the image (down and drawn together), the
lids against the iris, intensities not biased by the noise margin, and the figures that tell a
reference tool's lighting artefacts from disagreement (real clips: skipped when ../shared is
absent)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mestudio.analysis.au.intensity import FRAME_AUS, PX_PER_STEP, FrameAUs
from mestudio.analysis.au.measures import MEASURES, BrowRows, measures
from tests.analysis_fixtures import VIDEOS, needs_shared, rotation_about
from tests.conftest import SHARED, mestudio

# brow landmarks in crop px: (person's right, image left) heads 107 and 55, body 105 and 66;
# (left) heads 336 and 285, body 334 and 296
BROW_POINTS = {
    **{107: (66, 40), 55: (64, 42), 105: (52, 38), 66: (58, 39)},
    **{336: (84, 40), 285: (86, 42), 334: (98, 38), 296: (92, 39)},
}


def brow_image(right_shift: tuple[float, float] = (0, 0), left_shift: tuple[float, float] = (0, 0)) -> np.ndarray:
    """A 150x150 skin texture with two dark brows (x 36-68 and 82-114, row 40), each moved by
    (dx, dy) px: the truth the measures must find, drawn here, not taken from the code."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:150, 0:150].astype(np.float64)
    img = 170.0 + 6.0 * rng.standard_normal((150, 150))
    for (x0, x1), (dx, dy) in (((36, 68), right_shift), ((82, 114), left_shift)):
        for x in np.linspace(x0, x1, 60):  # the brow hair: a band of soft dark spots
            cx, cy = x + dx, 40 + dy - 3 * np.sin(np.pi * (x - x0) / (x1 - x0))
            img -= 14.0 * np.exp(-(((xx - cx) / 2.0) ** 2 + ((yy - cy) / 2.2) ** 2))
    return np.clip(img, 0, 255).astype(np.uint8)


def landmarks() -> np.ndarray:
    p = np.zeros((478, 2))
    for j, xy in BROW_POINTS.items():
        p[j] = xy
    return p


@pytest.mark.parametrize("inward,down", [(1.5, 0.0), (0.0, 1.0), (1.0, 1.5), (-1.0, -2.0)])
def test_brows_read_from_the_image_move_down_and_together_as_drawn(inward, down):
    rows = BrowRows()
    p = landmarks()
    inner0, outer0, in0 = rows(brow_image(), p)
    # the person's right brow (image left) moves right to the midline, the left one left; the
    # heads' rows follow the brows a frame late (a real brow moves under a pixel a frame)
    moved = brow_image((inward, down), (-inward, down))
    rows(moved, p)
    inner, outer, got = rows(moved, p)
    assert got - in0 == pytest.approx(inward, abs=0.3)
    assert inner - inner0 == pytest.approx(-down, abs=0.3)  # heights: up is positive
    assert outer - outer0 == pytest.approx(-down, abs=0.3)


def test_a_brighter_or_dimmer_image_does_not_move_the_brows():
    rows = BrowRows()
    p = landmarks()
    img = brow_image()
    first = np.array(rows(img, p))
    for gain, offset in ((1.3, 0), (0.6, 20)):
        lit = np.clip(img.astype(np.float64) * gain + offset, 0, 255).astype(np.uint8)
        assert np.abs(np.array(rows(lit, p)) - first).max() < 0.15


def test_lids_are_measured_from_the_iris():
    rng = np.random.default_rng(0)
    p = rng.uniform(20, 130, (478, 2))
    base = measures(p)
    up, low = MEASURES.index("upper_lid_over_iris"), MEASURES.index("lower_lid_to_iris")
    q = p.copy()
    q[[159, 386], 1] -= 1.0  # both upper lids 1 px up (AU5)
    q[[145, 374], 1] -= 0.5  # both lower lids 0.5 px up (AU7)
    m = measures(q)
    assert m[up] - base[up] == pytest.approx(1.0, abs=1e-4)
    assert m[low] - base[low] == pytest.approx(0.5, abs=1e-4)
    r = p.copy()
    r[:, 1] -= 2.0  # the whole face 2 px up (what a brow raise did to the eye line measures)
    assert measures(r)[[up, low]] == pytest.approx(base[[up, low]], abs=1e-4)


def test_an_intensity_is_the_whole_change_and_the_evidence_leaves_the_noise_out():
    rng = np.random.default_rng(1)
    fa = FrameAUs(30.0)
    for _ in range(60):  # a neutral face whose measures jitter by 0.1 px
        fa.push(rng.normal(0, 0.1, len(MEASURES)))
    corner, i12 = MEASURES.index("corner_height"), FRAME_AUS.index(12)
    smile = np.zeros(len(MEASURES))
    smile[corner] = 4.0  # lip corners 4 px up
    r, e = fa.push(smile)
    assert r[i12] == pytest.approx(4.0 / PX_PER_STEP[12], abs=0.1)
    assert 0 < e[i12] < r[i12]
    smile[corner] = 0.15  # inside the landmarks' jitter: a small intensity, no evidence
    r, e = fa.push(smile)
    assert 0 < r[i12] < 0.2 and e[i12] == 0


def test_the_light_is_taken_out_of_an_agreement_figure():
    from mestudio.analysis.evaluation.openface import covariate_r, partial_r, per_au_r

    rng = np.random.default_rng(2)
    n = 120
    face, light = rng.uniform(0, 2, n), np.linspace(0, 3, n) + rng.normal(0, 0.2, n)
    frames = np.arange(1, n + 1)
    ours = pd.DataFrame({"frame": frames, "success": 1, "AU04_r": face})
    theirs = pd.DataFrame({"frame": frames, "success": 1, "AU04_r": face + 2 * light})  # a tool that follows the light
    brightness = dict(zip(frames.tolist(), light.tolist()))
    assert per_au_r(ours, theirs)[4] < 0.5
    assert covariate_r(theirs, brightness)[4] > 0.8
    assert partial_r(ours, theirs, brightness)[4] > 0.95


def test_the_real_faces_bench_skips_without_shared(monkeypatch, tmp_path):
    from mestudio.benches.real_faces import real_clips

    monkeypatch.setenv("MESTUDIO_SHARED", str(tmp_path))
    assert "absent" in real_clips()["skipped"]


@pytest.mark.slow
def test_the_real_faces_bench_prints_per_au_figures_against_openface():
    needs_shared(VIDEOS / "openface_change_lighting.wmv")
    needs_shared(SHARED / "data" / "reference" / "openface2_change_lighting.csv")
    r = mestudio("bench", "real_faces", "--json", "--quick", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    clips = json.loads(r.stdout)
    light = clips["openface_change_lighting.wmv"]
    per_au = light["per_au"]
    assert {"AU01", "AU02", "AU04", "AU05", "AU15", "AU17", "AU20"} <= set(per_au)
    assert set(per_au["AU04"]) == {
        "r",
        "r_light_removed",
        "reference_vs_brightness",
        "reference_sd",
        "active",
        "reference_present_share",
    }
    # the mean over the AUs OpenFace marks present (AUxx_c = 1 in 5 % of frames or more): its
    # AU06 and AU12 never are on this clip (a neutral face under a moving light)
    assert "AU06" not in light["present_aus"] and "AU12" not in light["present_aus"] and "AU01" in light["present_aus"]
    assert -1 <= light["present_mean_r"] <= 1 and per_au["AU12"]["reference_present_share"] == 0
    # measured 0.79 and 0.54 (brows) when written; OpenFace's own AU20 follows the light (r -0.85)
    assert per_au["AU01"]["r"] >= 0.7 and light["brow_mean_r"] >= 0.45
    assert per_au["AU20"]["reference_vs_brightness"] < -0.7
    assert clips["pyfeat_single_face.mp4"]["smile_found"] is True


@pytest.mark.parametrize("axis,deg,tilt", [("z", 12.0, 0.0), ("x", 10.0, 10.0), ("y", -9.0, 9.0)])
def test_the_head_rule_counts_nods_and_turns_not_a_roll_the_alignment_removes(axis, deg, tilt):
    from mestudio.analysis.face.pose import RIGID_3D, HeadPose, tilt_deg

    rng = np.random.default_rng(4)
    face = np.zeros((478, 3))
    face[list(RIGID_3D)] = rng.uniform(-60, 60, (len(RIGID_3D), 3))
    pose = HeadPose()
    pose(face + 300.0)  # the face as acquired
    turned = face @ rotation_about(axis, deg).T + 300.0
    assert tilt_deg(pose(turned)) == pytest.approx(tilt, abs=0.05)


@pytest.mark.slow
def test_a_side_light_on_a_neutral_face_is_no_expression(tmp_path):
    """The smile clip's neutral start, played forth and back for 4 s while a light comes up from
    one side (the image 40 % brighter at one edge and 40 % darker at the other)."""
    import av

    from tests.analysis_fixtures import read_video_gray

    frames, fps = read_video_gray(needs_shared(VIDEOS / "pyfeat_single_face.mp4"))
    loop = (frames[:15] + frames[:15][::-1]) * 4
    ramp = np.linspace(-1.0, 1.0, frames[0].shape[1])[None, :]
    amount = np.interp(np.arange(len(loop)), [0, 40, 80, len(loop)], [0.0, 0.0, 0.4, 0.4])
    path, csv = tmp_path / "side_lit.mp4", tmp_path / "aus.csv"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=int(fps), options={"crf": "12"})
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f, a in zip(loop, amount):
            img = np.clip(f.astype(np.float32) * (1.0 + a * ramp), 0, 255).astype(np.uint8)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="gray")))
        out.mux(s.encode())
    r = mestudio("analyze", str(path), "--json", "--au-csv", str(csv))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["frames_with_face"] == len(loop)
    assert [e for e in report["events"] if e["kind"] in ("micro", "macro")] == []
    table = pd.read_csv(csv)
    assert not table[[c for c in table.columns if c.endswith("_c")]].to_numpy().any()  # no AU present


@pytest.mark.slow
def test_the_benchs_voice_run_keeps_a_smile_and_counts_what_speech_took():
    """The bench's talking-clip run with a voice over its whole length, here on the smile clip:
    a smile (AU6 + AU12) is not mouth-only, so speech leaves it an event."""
    from mestudio.analysis.settings import AnalyzerSettings
    from mestudio.benches.real_faces import _with_voice

    clip = needs_shared(VIDEOS / "pyfeat_single_face.mp4")
    minutes = 72 / 30 / 60  # 72 frames at 30 fps
    got = _with_voice(clip, minutes, AnalyzerSettings())
    assert got["speech_suppressed_with_voice"] == 0
    assert any("AU12" in e and "Positive" in e for e in got["events_with_voice"]), got
    assert got["false_spots_per_min_with_voice"] == pytest.approx(len(got["events_with_voice"]) / minutes, abs=0.1)
