"""Training as the study: a few SGD steps per model, the schedules, checkpoints, cross-validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mestudio.analysis.datasets import synthetic_dataset
from mestudio.analysis.datasets.errors import CheckpointError
from mestudio.analysis.models.augraph import cooccurrence_adjacency, loss_weight
from mestudio.analysis.training import TrainConfig, cross_validate, fit, load_checkpoint, predict_proba, save_checkpoint
from mestudio.analysis.training.crossval import task_labels

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = TrainConfig(epochs=2, size=24, batch_size=4, frames=6)


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(5, 4, size=32, seed=0)


@pytest.mark.parametrize("name", ["res3d18_tiny", "res3d18_sca_tiny", "au_graph_tiny", "lbptop_svm_tiny"])
def test_fit_predict_and_checkpoint_round_trip(name, data, tmp_path):
    book, clips = data
    labels = task_labels(book, "emotion", k=1)
    au = labels.au_y if name.startswith("au_graph") else None
    before = None
    if name != "lbptop_svm_tiny":
        torch.manual_seed(TINY.seed)
        from mestudio.analysis.training.sgd import build_model

        before = {k: v.clone() for k, v in build_model(name, 5, 8 if au is not None else None)[0].state_dict().items()}
    model, kwargs = fit(name, clips, labels.y, TINY, au_y=au, progress=False)
    if before is not None:  # the weights moved
        after = model.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())
    proba = predict_proba(name, model, clips[:5], TINY)
    assert proba.shape == (5, 5) and ((proba >= 0) & (proba <= 1)).all()
    ck = save_checkpoint(
        tmp_path / "m.pt",
        name,
        model,
        kwargs,
        "emotion",
        labels.names,
        TINY.to_dict(),
        au_labels=labels.au_names if au is not None else None,
    )
    loaded, meta = load_checkpoint(ck)
    assert meta["labels"] == labels.names and meta["config"]["epochs"] == 2 and meta["model"] == name
    assert np.allclose(predict_proba(name, loaded, clips[:5], TINY), proba, atol=1e-5)


def test_training_is_seeded(data):
    book, clips = data
    y = task_labels(book, "emotion", k=1).y
    a = fit("res3d18_tiny", clips, y, TINY, progress=False)[0].state_dict()
    b = fit("res3d18_tiny", clips, y, TINY, progress=False)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_study_schedules():
    cfg = TrainConfig()
    assert (cfg.epochs, cfg.lr, cfg.weight_decay, cfg.step_every()) == (80, 0.01, 0.001, 40)
    assert [loss_weight(e) for e in (0, 29, 30, 59, 60, 89)] == [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    assert TrainConfig(epochs=90).alpha_step() == 30


def test_cooccurrence_adjacency():
    y = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1]])
    a = cooccurrence_adjacency(y, tau=0.5, p=0.25)
    assert a[0, 1] > 0 and a[1, 0] > 0  # AU A and B co-occur
    assert a[0, 2] == 0 and a[2, 0] == 0  # C never with the others
    assert a[2, 2] == 1.0 and a[0, 0] == pytest.approx(0.75)
    assert np.allclose(a.sum(axis=1), 1.0)


def test_half_precision_shipping_and_bad_files(data, tmp_path):
    book, clips = data
    labels = task_labels(book, "emotion", k=1)
    model, kw = fit("res3d18_tiny", clips, labels.y, TrainConfig(epochs=1, size=24, frames=6), progress=False)
    full = save_checkpoint(tmp_path / "f.pt", "res3d18_tiny", model, kw, "emotion", labels.names, {})
    half = save_checkpoint(tmp_path / "h.pt", "res3d18_tiny", model, kw, "emotion", labels.names, {}, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, _ = load_checkpoint(half)
    assert next(loaded.parameters()).dtype == torch.float32
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="mestudio train"):
        load_checkpoint(tmp_path / "none.pt")


def test_cross_validation_pools_every_sample(data):
    book, clips = synthetic_dataset(6, 5, size=32, seed=1)  # every subject shows all five emotions
    rep, pred = cross_validate("lbptop_svm_tiny", book, clips, "emotion", TrainConfig(size=32), k=5, progress=False)
    assert pred.shape == (len(book), 5)
    assert [c.support for c in rep.classes] == book.emotion_matrix().sum(axis=0).tolist()
    assert sum(c.tp + c.tn + c.fp + c.fn for c in rep.classes) == 5 * len(book)
    book, clips = data  # 5 subjects showing 4 of the 5 emotions each
    with pytest.raises(ValueError, match="5 or more subjects"):
        cross_validate("lbptop_svm_tiny", book, clips, "emotion", TrainConfig(size=32), k=5, progress=False)


def test_onset_difference_input_travels_with_the_checkpoint(data, tmp_path):
    from mestudio.analysis.training import ClipClassifier
    from mestudio.analysis.training.data import to_input

    x = np.stack([np.full((4, 4), v, np.uint8) for v in (100, 110, 120)])
    assert np.allclose(to_input(x, "onset_diff")[0, 0], 0.0) and to_input(x, "onset_diff")[0, 2, 0, 0] > 0
    with pytest.raises(ValueError, match="onset_diff"):
        TrainConfig(input="flow")
    book, clips = data
    labels = task_labels(book, "au", k=1)
    cfg = TrainConfig(epochs=1, size=24, batch_size=4, frames=6, input="onset_diff", balance=True)
    model, kw = fit("res3d18_tiny", clips, labels.y, cfg, progress=False)
    ck = save_checkpoint(tmp_path / "d.pt", "res3d18_tiny", model, kw, "au", labels.names, cfg.to_dict())
    clf = ClipClassifier.load(ck)
    assert clf.config.input == "onset_diff" and clf.labels == labels.names
    probs = clf.predict_proba(clips[0])
    assert list(probs) == labels.names
    assert np.allclose(list(probs.values()), predict_proba("res3d18_tiny", model, clips[:1], cfg)[0], atol=1e-5)


def test_magnification_option_changes_the_input(data):
    from mestudio.analysis.training.data import base_clip

    book, clips = data
    plain = base_clip(clips[0], 6, 40)
    magnified = base_clip(clips[0], 6, 40, magnify_alpha=10.0, fps=100.0)
    assert plain.shape == magnified.shape == (6, 40, 40) and not np.array_equal(plain, magnified)
    y = task_labels(book, "emotion", k=1).y
    cfg = TrainConfig(epochs=1, size=24, frames=6, magnify=5.0, fps=100.0)
    model, _ = fit("lbptop_svm_tiny", clips, y, cfg, progress=False)
    assert predict_proba("lbptop_svm_tiny", model, clips[:2], cfg).shape == (2, 5)
