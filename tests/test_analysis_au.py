"""AU estimation from landmark motion against the participant's own neutral baseline."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.analysis.analyzer.errors import LearntModelUnavailableError
from mestudio.analysis.au import AU_RULES, MEASURES, LandmarkAUEstimator, measures
from mestudio.analysis.au.learnt import load_learnt_au_model
from mestudio.analysis.emotion import emotion_from_aus
from mestudio.analysis.face import Aligner, FaceTracker
from mestudio.analysis.face.align import apply
from tests.analysis_fixtures import face_frames

FPS = 60.0
BASE = {"eye_open": 8.0, "mouth_width": 50.0, "lips_apart": 1.0, "lip_thickness": 12.0, "brow_gap": 20.0}


def estimator(seed: int = 0) -> LandmarkAUEstimator:
    rng = np.random.default_rng(seed)
    base = np.array([BASE.get(m, 0.0) for m in MEASURES], np.float32)
    est = LandmarkAUEstimator(FPS)
    for _ in range(120):
        est.observe_quiet(base + rng.normal(0, 0.1, len(MEASURES)).astype(np.float32))
    return est


def interval(est, changes: dict[str, float], frames: int = 18) -> np.ndarray:
    """Measures rising to ``changes`` (crop px) at the interval's middle and back."""
    s = np.repeat(est.baseline[None], frames, axis=0).copy()
    w = np.sin(np.linspace(0, np.pi, frames))
    for name, px in changes.items():
        s[:, MEASURES.index(name)] += px * w
    return s


@pytest.mark.parametrize(
    "changes,expected",
    [
        ({"inner_brow_height": 1.5}, {1}),
        ({"outer_brow_height": 1.5}, {2}),
        ({"inner_brow_height": 1.5, "outer_brow_height": 1.5}, {1, 2}),
        ({"inner_brow_height": -1.5}, {4}),
        ({"brow_gap": -1.5}, {4}),
        ({"eye_open": 1.5}, {5}),
        ({"cheek_height": 1.5}, {6}),
        ({"eye_open": -1.5, "lower_lid_height": 1.0}, {7}),
        ({"nose_ala_height": 1.5}, {9}),
        ({"upper_lip_height": 1.5}, {10}),
        ({"corner_height": 1.5}, {12}),
        ({"corner_height": 1.5, "cheek_height": 1.5}, {6, 12}),
        ({"mouth_width": -1.5}, {14}),
        ({"corner_height": -1.5}, {15}),
        ({"chin_height": 1.5}, {17}),
        ({"mouth_width": 1.5}, {20}),
        ({"lip_thickness": -1.5}, {24}),
        ({"lips_apart": 1.5}, {25}),
        ({"lips_apart": 3.0, "chin_height": -2.0}, {26}),
        ({"eye_open": -5.0, "upper_lid_height": -5.0}, {45}),
        ({"eye_open": -2.0, "upper_lid_height": -0.8, "lower_lid_height": 1.2}, {7}),
    ],
)
def test_each_au_rule(changes, expected):
    est = estimator()
    assert set(est.estimate(interval(est, changes), 0.3).aus) == expected


def test_vetoes_keep_neighbouring_aus_apart():
    est = estimator()
    # brows raised lift the lid skin: AU1+2, not AU5
    assert est.estimate(interval(est, {"inner_brow_height": 2, "outer_brow_height": 2, "eye_open": 1}), 0.3).aus == [
        1,
        2,
    ]
    # corners up while the mouth narrows is a dimpler, not a smile
    assert est.estimate(interval(est, {"corner_height": 1.0, "mouth_width": -1.5}), 0.3).aus == [14]
    # the eye narrowed by a cheek raise is AU6, not AU7
    assert est.estimate(interval(est, {"cheek_height": 1.5, "eye_open": -1.0, "lower_lid_height": 1.0}), 0.3).aus == [6]


def test_blink_and_eyes_closed():
    est = estimator()
    lids = {"eye_open": -6.0, "upper_lid_height": -6.0}
    closed = interval(est, {**lids, "outer_brow_height": 2.0}, frames=120)
    assert est.estimate(closed, 2.0).aus == [43]  # closed longer than 1 s
    assert est.estimate(interval(est, {**lids, "outer_brow_height": 2.0}), 0.25).aus == [45]
    # a long partial narrowing with a smile is the smile's squint, not a blink
    squint = interval(est, {"eye_open": -1.5, "corner_height": 2.0, "cheek_height": 1.5}, frames=80)
    assert est.estimate(squint, 1.3).aus == [6, 12]


def test_noise_and_small_changes_give_nothing():
    est = estimator()
    assert est.estimate(interval(est, {"corner_height": 0.2}), 0.3).aus == []
    assert LandmarkAUEstimator(FPS).estimate(np.zeros((5, len(MEASURES))), 0.1).aus == []  # no baseline yet


def test_rules_cover_the_studys_evaluated_aus():
    assert {1, 2, 4, 6, 7, 12, 17, 45} <= set(AU_RULES)


def test_smile_on_the_synthetic_face_is_au12_and_positive():
    frames = face_frames((("macro", (6, 12), 1.0, 1.4, 2.0, 1.0),), seconds=2.2)
    al, series, quiet = Aligner(), [], LandmarkAUEstimator(FPS)
    with FaceTracker() as tr:
        for i, f in enumerate(frames):
            obs = tr.process(f)
            m = measures(apply(al.fit(obs.landmarks), obs.landmarks))
            if i < 55:
                quiet.observe_quiet(m)
            elif 60 <= i <= 120:
                series.append(m)
    r = quiet.estimate(np.stack(series), 1.0)
    assert 12 in r.aus and 6 in r.aus
    assert emotion_from_aus(r.aus).label == "Positive"


def test_learnt_model_needs_a_checkpoint_and_says_so(tmp_path):
    with pytest.raises(LearntModelUnavailableError, match="au_checkpoint"):
        load_learnt_au_model("res3d18", None)
    with pytest.raises(LearntModelUnavailableError, match="res3d18"):
        load_learnt_au_model("res3d18", tmp_path / "missing.pt")


def test_learnt_model_plugs_in_through_the_registry(tmp_path):
    torch = pytest.importorskip("torch")
    from mestudio.analysis.analyzer.pipeline import Analyzer
    from mestudio.analysis.models.registry import create_model
    from mestudio.analysis.settings import AnalyzerSettings
    from mestudio.analysis.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("res3d18_tiny", num_classes=3)
    ckpt = save_checkpoint(
        tmp_path / "au.pt",
        "res3d18_tiny",
        model,
        {"num_classes": 3},
        "au",
        ["AU1", "AU2", "AU12"],
        {},
        au_labels=["AU1", "AU2", "AU12"],
    )
    learnt = load_learnt_au_model("res3d18_tiny", ckpt)
    assert learnt.aus == [1, 2, 12] and (learnt.frames, learnt.size) == (10, 64)
    present, prob = learnt.predict([np.full((150, 150), 100, np.uint8)] * 14)
    assert set(prob) == {1, 2, 12} and all(0 <= p <= 1 for p in prob.values())
    assert present == [a for a in (1, 2, 12) if prob[a] >= 0.5]
    with Analyzer(AnalyzerSettings(au_model="res3d18_tiny", au_checkpoint=ckpt), FPS) as a:
        assert a.learnt is not None and a.notes == []
    # a missing checkpoint: one clear note, and the landmark estimator carries on
    with Analyzer(AnalyzerSettings(au_model="res3d18_tiny", au_checkpoint=tmp_path / "none.pt"), FPS) as a:
        assert a.learnt is None and "landmark AU estimator" in a.notes[0] and "none.pt" in a.notes[0]
