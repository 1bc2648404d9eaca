"""Training and the subject-independent evaluation of the study's models.

Names load lazily: `mestudio --help` imports the train/evaluate argument parsers, which must not
pay for importing torch.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "load_checkpoint": "checkpoint",
    "read_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "TrainConfig": "config",
    "cross_validate": "crossval",
    "task_labels": "crossval",
    "ClipClassifier": "inference",
    "fit": "loop",
    "predict_proba": "loop",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'mestudio.analysis.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mestudio.analysis.training.{_WHERE[name]}"), name)
