"""Training and the subject-independent evaluation of the study's models."""
from analysis.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from analysis.training.config import TrainConfig
from analysis.training.crossval import cross_validate, task_labels
from analysis.training.inference import ClipClassifier
from analysis.training.loop import fit, predict_proba

__all__ = ["load_checkpoint", "read_checkpoint", "save_checkpoint", "TrainConfig", "ClipClassifier", "cross_validate",
           "task_labels", "fit", "predict_proba"]
