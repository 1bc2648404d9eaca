"""Errors of the streaming analyzer and its parts. Each also inherits the built-in it resembles."""


class AnalyzerError(Exception):
    """Base of the analyzer's errors."""


class FaceModelUnavailableError(AnalyzerError, ImportError):
    """The face-landmark model (mediapipe face mesh) cannot be imported on this machine."""


class NoFaceStreamError(AnalyzerError, LookupError):
    """The configured stream is not in the session (or not a video stream)."""


class GroundTruthError(AnalyzerError, ValueError):
    """Ground truth (a label CSV or a face script) that cannot be read."""


class LearntModelUnavailableError(AnalyzerError, LookupError):
    """A learnt AU/emotion model was configured but its registry or checkpoint is missing."""


class InputError(AnalyzerError, ValueError):
    """An input to analyse (video file, image folder) that cannot be read as frames."""
