"""Errors of the study's methods (datasets, preprocessing, models, protocol, training).

Each also inherits the built-in it resembles; every message says what to do.
"""


class MethodsError(Exception):
    """Base of the errors raised by analysis.datasets/preprocess/models/protocol/training."""


class LabelBookError(MethodsError, ValueError):
    """A label book that cannot be read as the format it claims to be."""


class ClipNotFoundError(MethodsError, FileNotFoundError):
    """A labelled clip whose image sequence is not where the dataset layout puts it."""


class UnknownModelError(MethodsError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class FoldError(MethodsError, ValueError):
    """Samples that cannot be split into the requested subject-independent folds."""


class CheckpointError(MethodsError, OSError):
    """A checkpoint file that is missing, unreadable, or for another model."""
