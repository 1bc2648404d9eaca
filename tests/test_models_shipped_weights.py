"""The checkpoints shipped in analysis/weights: listed, loadable by name, small, and working on
clips of the synthetic face rig they were trained on (a view they were not trained on)."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.analysis.datasets.errors import CheckpointError
from mestudio.analysis.training import ClipClassifier, read_checkpoint
from mestudio.analysis.weights import WEIGHTS_DIR, shipped, shipped_path

EXPECTED = {"res3d18_sca_tiny-au", "au_graph_tiny-emotion", "lbptop_svm_tiny-emotion", "ccdn_tiny-emotion"}
TRAINED_BY = {"scripts/train_shipped_models.py", "scripts/train_shipped_ccdn.py"}


def test_index_lists_the_shipped_checkpoints_with_provenance():
    index = shipped()
    assert set(index) == EXPECTED
    for name, entry in index.items():
        path = shipped_path(name)
        assert path.parent == WEIGHTS_DIR and path.stat().st_size < 2_000_000  # small enough for the repo
        blob = read_checkpoint(path)
        prov = blob["provenance"]
        assert prov["trained_by"] in TRAINED_BY and "synthetic" in prov["data"]
        assert blob["labels"] == entry["labels"] and blob["metrics"]["held_out"]["classes"]


def test_unknown_name_lists_what_ships():
    with pytest.raises(CheckpointError, match="res3d18_sca_tiny-au"):
        shipped_path("nope")


@pytest.fixture(scope="module")
def rig_clips():
    """Fresh rig clips from a view (seed) the shipped models never saw."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_shipped_models import render_clips

    return render_clips(2, 10, seed=99)


def test_au_detector_finds_scripted_aus_on_an_unseen_view(rig_clips):
    import torch

    torch.set_num_threads(1)
    book, clips = rig_clips
    clf = ClipClassifier.load("res3d18_sca_tiny-au")
    proba = clf.predict_proba_batch(clips)
    truth = book.au_matrix([int(n[2:]) for n in clf.labels])
    pred = proba > clf.config.threshold
    tp = int((pred & (truth > 0)).sum())
    f1 = 2 * tp / max(1, int(pred.sum()) + int(truth.sum()))
    assert f1 > 0.6, f"micro F1 {f1:.2f} on unseen rig views"


def test_emotion_models_beat_chance_on_an_unseen_view(rig_clips):
    book, clips = rig_clips
    for name in ("au_graph_tiny-emotion", "lbptop_svm_tiny-emotion"):
        clf = ClipClassifier.load(name)
        truth = book.emotion_matrix(clf.labels)
        best = clf.predict_proba_batch(clips).argmax(axis=1)
        hits = truth[np.arange(len(clips)), best].mean()
        assert hits > 0.5, f"{name}: top emotion right in {hits:.0%} of clips (chance {1 / len(clf.labels):.0%})"


def test_ccdn_finds_emotions_of_unseen_synthetic_4d_identities():
    import torch

    from mestudio.analysis.datasets.synthetic4d import synthetic4d_dataset

    torch.set_num_threads(1)
    book, clips = synthetic4d_dataset(2, 5, 64, seed=99, frames=10)  # identities it never saw
    clf = ClipClassifier.load("ccdn_tiny-emotion")
    truth = book.emotion_matrix(clf.labels)
    best = clf.predict_proba_batch(clips).argmax(axis=1)
    hits = truth[np.arange(len(clips)), best].mean()
    assert hits > 0.5, f"top emotion right in {hits:.0%} of clips (chance {1 / len(clf.labels):.0%})"
