"""CCDN training on 4D views: cross-domain dynamic images, the EVM duplicate, per-view and fused
predictions, and a clear error for 2D clips."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.analysis.training.config import TrainConfig
from mestudio.analysis.training.loop import fit, predict_proba
from mestudio.analysis.training.views import predict_views_proba, views_input

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_set():
    from mestudio.analysis.datasets.synthetic4d import synthetic4d_dataset

    return synthetic4d_dataset(2, 3, size=32, seed=0, frames=6)


def test_views_input_is_one_dynamic_image_per_profile_and_domain(tiny_set):
    _, clips = tiny_set
    x = views_input(clips[0], 28)
    assert x.shape == (3, 3, 28, 28) and x.dtype == np.float32
    assert np.abs(x).max() <= 1.0 + 1e-6 and np.abs(x).max() > 0.5  # each scaled to unit peak
    magnified = views_input(clips[0], 28, magnify_alpha=8.0, fps=60.0)
    assert not np.allclose(magnified, x)  # EVM changes what rank pooling sees


@pytest.mark.slow
def test_fit_and_predict_per_view_and_fused(tiny_set):
    book, clips = tiny_set
    y = book.emotion_matrix()
    cfg = TrainConfig(epochs=1, batch_size=4, size=24, magnify=4.0, fps=60.0)  # EVM duplicate on
    model, kwargs = fit("ccdn_tiny", clips, y, cfg, progress=False)
    assert kwargs == {"num_classes": 5}
    p = predict_views_proba("ccdn_tiny", model, clips, cfg)
    assert p.shape == (len(clips), 4, 5)
    assert np.allclose(p[:, 3], p[:, :3].mean(axis=1), atol=1e-5)  # Multi-views: mean probability
    assert np.allclose(predict_proba("ccdn_tiny", model, clips, cfg), p[:, 3], atol=1e-6)


def test_2d_clips_are_refused_with_the_shape():
    clips = [np.zeros((6, 32, 32), np.uint8)] * 2
    with pytest.raises(ValueError, match=r"3 profiles.*\(6, 32, 32\)"):
        fit("ccdn_tiny", clips, np.array([[1], [0]]), TrainConfig(epochs=1, size=24), progress=False)


def test_the_live_analyzer_refuses_a_4d_views_model():
    from mestudio.analysis.analyzer.errors import LearntModelUnavailableError
    from mestudio.analysis.au.learnt import load_learnt_au_model
    from mestudio.analysis.weights import shipped_path

    with pytest.raises(LearntModelUnavailableError, match="4D views"):
        load_learnt_au_model("ccdn_tiny", shipped_path("ccdn_tiny-emotion"))
