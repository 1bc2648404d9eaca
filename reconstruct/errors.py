"""Errors of the 4D stage: each names the session, the camera or the file, and what to do."""

from __future__ import annotations


class GeometryError(Exception):
    """Base of this stage's errors."""


class CalibrationError(GeometryError, ValueError):
    """The recording cannot calibrate a camera (no board, too few views, out of sync)."""


class MissingDataError(GeometryError, FileNotFoundError):
    """A file the stage needs is not in the session (frame sets, calibration, a stream)."""


class ReconstructionError(GeometryError, ValueError):
    """A frame set cannot be reconstructed."""
