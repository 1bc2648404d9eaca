"""Errors of annotate/. Each also inherits the built-in it resembles; every message says what to do."""


class AnnotateError(Exception):
    """Base of annotate/ errors."""


class AnnotatorNameError(AnnotateError, ValueError):
    """An annotator name that cannot name a labels file."""


class LabelsFileError(AnnotateError, ValueError):
    """A labels/NAME.json that is not an annotator's labels file (the message names the file and the change)."""


class LabelsConflictError(AnnotateError, OSError):
    """Another window changed the same annotator's labels file since this one last wrote it."""


class MarkError(AnnotateError, ValueError):
    """An annotation action that cannot be applied as asked (no clip selected, offset before onset, ...)."""


class SourceError(AnnotateError, ValueError):
    """An input (session, video file, image folder) that cannot be annotated."""


class MergeError(AnnotateError, ValueError):
    """Labels that cannot be merged (no annotators, different streams, ...)."""
