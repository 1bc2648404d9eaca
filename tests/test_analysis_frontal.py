"""The head's 3D rotation taken out of the landmarks: a nod moves no measure, an expression still
does (the truth is the 3D geometry built here, projected as mediapipe gives it: x, y pixels and
a depth z in x's units)."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.analysis.au.measures import MEASURES, BrowRows, measures
from mestudio.analysis.face.align import Aligner, apply
from mestudio.analysis.face.frontal import RIGID_FRONTAL, Frontalizer, umeyama
from tests.analysis_fixtures import rotation_about


def head() -> np.ndarray:
    """A head of 478 points (pixels, 640x480 frame): a rounded face whose depth grows towards its
    middle, so a nod changes the projected heights between points at different depths."""
    rng = np.random.default_rng(5)
    xy = rng.uniform(-60, 60, (478, 2))
    z = -40 + 0.006 * (xy**2).sum(axis=1)  # the nose and brows nearer the camera than the sides
    p = np.column_stack([xy, z])
    p[[33, 133], :] = [[-45, -10, -25], [-15, -10, -30]]  # eye corners: the 2D alignment's eyes
    p[[263, 362], :] = [[45, -10, -25], [15, -10, -30]]
    return p


def frame(p: np.ndarray, r: np.ndarray, scale: float = 1.0) -> np.ndarray:
    c = p.mean(axis=0)
    return scale * (p - c) @ r.T + np.array([320.0, 240.0, 0.0])


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(0, 30, (20, 3))
    r = rotation_about("x", 14) @ rotation_about("y", -9)
    dst = 1.3 * src @ r.T + [5.0, -2.0, 7.0]
    s, got, t = umeyama(src, dst)
    assert s == pytest.approx(1.3, abs=1e-9)
    np.testing.assert_allclose(got, r, atol=1e-9)
    np.testing.assert_allclose(t, [5.0, -2.0, 7.0], atol=1e-9)


@pytest.mark.parametrize("axis,deg", [("x", 12.0), ("y", -15.0), ("x", -8.0)])
def test_a_nod_or_turn_moves_no_landmark_once_frontalised(axis, deg):
    p = head()
    al, fz = Aligner(), Frontalizer()
    f0 = frame(p, np.eye(3))
    base = fz(f0, al.fit(f0))
    f1 = frame(p, rotation_about(axis, deg), scale=1.1)  # nodded or turned, and a little nearer
    m1 = al.fit(f1)
    np.testing.assert_allclose(fz(f1, m1), base, atol=1e-6)
    # the 2D alignment alone leaves the rotation in the projected heights: what the 3D fit removes
    assert np.abs(apply(m1, f1) - base).max() > 2.0
    assert np.abs(measures(fz(f1, m1)) - measures(base)).max() < 1e-4


def test_an_expression_survives_the_frontalisation():
    p = head()
    al, fz = Aligner(), Frontalizer()
    f0 = frame(p, np.eye(3))
    m0 = al.fit(f0)
    base = measures(fz(f0, m0))
    raised = p.copy()
    raised[[107, 336], 1] -= 3.0  # the inner brows 3 px up on the head itself
    raised[[61, 291], 1] -= 2.0  # and the lip corners 2 px up
    assert not set(RIGID_FRONTAL) & {107, 336, 61, 291}
    f1 = frame(raised, rotation_about("x", 10.0))
    got = measures(fz(f1, al.fit(f1))) - base
    scale = float(np.hypot(m0[0, 0], m0[1, 0]))  # frame px -> crop px at acquisition
    i_brow, i_corner = MEASURES.index("inner_brow_row"), MEASURES.index("corner_height")
    assert got[i_brow] == pytest.approx(3.0 * scale, abs=0.05)
    assert got[i_corner] == pytest.approx(2.0 * scale, abs=0.05)


@pytest.mark.parametrize("dx,dy", [(0.0, 1.5), (1.5, 0.0)])
def test_the_brows_in_the_image_lose_what_the_heads_rotation_moved(dx, dy):
    """A nod moves both brows down in the 2D crop, a turn moves both sideways (closing nothing):
    the 3D-frontalised landmarks say so, and the image's brow heights and heads stay put."""
    from tests.test_analysis_au_real_measures import brow_image, landmarks

    p = landmarks()
    rows, plain = BrowRows(), BrowRows()
    first = np.array(rows(brow_image(), p, p))
    plain(brow_image(), p)
    moved = brow_image((dx, dy), (dx, dy))  # both brows one way: the head, not an expression
    p2 = p + [dx, dy]  # the 2D-aligned landmarks move with the head; the frontalised ones do not
    for _ in range(2):  # the heads' rows follow a frame late
        got, without = np.array(rows(moved, p2, p)), np.array(plain(moved, p2))
    assert np.abs(got - first).max() < 0.3
    # without the frontalised landmarks a nod reads as a brow lowering
    assert dy == 0 or without[0] - first[0] == pytest.approx(-dy, abs=0.3)


def _mean_intensities(frames, fps: float, frontalize: bool) -> np.ndarray:
    from mestudio.analysis.analyzer.pipeline import Analyzer
    from mestudio.analysis.settings import AnalyzerSettings

    rows: list[list[float]] = []
    with Analyzer(AnalyzerSettings(frontalize=frontalize), fps) as a:
        msgs = [m for i, f in enumerate(frames) for m in a.process(f, i, i / fps)] + a.finish()
    for m in msgs:
        if m["type"] == "trace" and "au" in m:
            aus = [k for k in m["au"] if k.startswith("AU")]
            rows += [[m["au"][k][i] for k in aus] for i, ok in enumerate(m["au"]["success"]) if ok]
    return np.asarray(rows).mean(axis=0)


@pytest.mark.slow
def test_a_neutral_face_that_turns_and_nods_wanders_less_frontalised():
    """The talking clip's frames 381-700: a mostly neutral face (the clip's description) turning
    up to 27 degrees and nodding up to 23: every AU intensity there is wander. Measured when
    written: the AUs' mean intensities sum to 19.0 with the 2D alignment alone, 8.6 frontalised."""
    from tests.analysis_fixtures import VIDEOS, needs_shared, read_video_gray

    frames, fps = read_video_gray(needs_shared(VIDEOS / "openface_neutral_talk.avi"))
    flat, frontal = (_mean_intensities(frames[380:700], fps, f) for f in (False, True))
    assert frontal.sum() <= 0.7 * flat.sum(), (flat.round(2), frontal.round(2))


@pytest.mark.slow
def test_analyze_frontalize_on_a_video(tmp_path):
    """`mestudio analyze VIDEO --frontalize`: the report says so, the AU table has a row per frame
    and the smile's lip corners still rise in it (AU12 low before frame 15, high while held)."""
    import json

    import pandas as pd

    from tests.analysis_fixtures import VIDEOS, needs_shared
    from tests.conftest import mestudio

    clip = needs_shared(VIDEOS / "pyfeat_single_face.mp4")
    csv = tmp_path / "x.csv"
    r = mestudio("analyze", str(clip), "--frontalize", "--au-csv", str(csv), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["frontalize"] is True and report["frames_with_face"] == report["frames"] == 72
    table = pd.read_csv(csv)
    assert len(table) == 72 and table["AU12_r"][:15].max() < 1.0 and table["AU12_r"][35:68].min() >= 2.0
