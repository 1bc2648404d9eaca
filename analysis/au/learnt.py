"""Learnt AU models plugged into the analyzer through the model registry (analysis.models).

A checkpoint written by `mestudio train` (analysis.training.checkpoint) names its model, the
arguments to build it with `create_model`, its task and labels.  The analyzer feeds it the
spotted interval's aligned crops, resampled to the model's clip length and size, and reads a
multi-label sigmoid output (AU task).  When the registry or torch is missing, or the checkpoint
does not load, ``load_learnt_au_model`` raises LearntModelUnavailableError with what to do; the
analyzer then reports that once and keeps the training-free landmark estimator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mestudio.analysis.analyzer.errors import LearntModelUnavailableError
from mestudio.analysis.emotion.table import parse_aus


class LearntAUModel:
    """A trained AU-task checkpoint: the crops of one interval -> AUs.

    Prediction goes through the training code's own clip preparation (ClipClassifier: TIM to the
    model's clip length, its input mode such as onset differences, resize), so the model sees
    what it was trained on.
    """

    def __init__(self, clf, threshold: float = 0.5) -> None:
        from mestudio.analysis.models.registry import model_config

        self.clf, self.meta, self.threshold = clf, clf.meta, threshold
        labels = self.meta.get("au_labels") or clf.labels
        self.aus = parse_aus(labels)
        if len(self.aus) != len(labels) or clf.task != "au":
            raise LearntModelUnavailableError(
                f"checkpoint labels {labels} are not AU codes; "
                "configure an AU-task checkpoint as [analyzer] au_checkpoint"
            )
        mc = model_config(clf.name)
        self.frames, self.size = clf.config.frames, clf.config.size or mc.size

    def predict(self, crops: list[np.ndarray]) -> tuple[list[int], dict[int, float]]:
        prob = self.clf.predict_proba_batch([np.stack(crops).astype(np.uint8)])[0]
        present = [a for a, p in zip(self.aus, prob) if p >= self.threshold]
        return present, {a: round(float(p), 3) for a, p in zip(self.aus, prob)}


def load_learnt_au_model(name: str, checkpoint: str | Path | None) -> LearntAUModel:
    """The configured model, or LearntModelUnavailableError saying what is missing."""
    if not checkpoint:
        raise LearntModelUnavailableError(
            f"[analyzer] au_model = {name!r} needs au_checkpoint = PATH (a checkpoint from `mestudio train`)"
        )
    try:
        from mestudio.analysis.training.inference import ClipClassifier
    except ImportError as e:
        raise LearntModelUnavailableError(
            f"learnt AU model {name!r}: the model registry is not available ({e}); "
            "install the analysis extras: pip install 'mestudio[analysis]'"
        ) from None
    try:
        clf = ClipClassifier.load(checkpoint)
    except Exception as e:  # a checkpoint error names the file and what to do
        raise LearntModelUnavailableError(f"learnt AU model {name!r}: {e}") from None
    if clf.name != name:
        raise LearntModelUnavailableError(
            f"{checkpoint}: holds model {clf.name!r}, not {name!r}; set [analyzer] au_model to match"
        )
    from mestudio.analysis.models.registry import model_config

    if model_config(clf.name).views:  # CCDN reads 4D views; the live analyzer has 2D face crops
        raise LearntModelUnavailableError(
            f"{checkpoint}: {clf.name!r} reads 4D views (mestudio views), not the analyzer's 2D face crops; "
            "use a 2D model (res3d18_sca_tiny, ...)"
        )
    return LearntAUModel(clf)
