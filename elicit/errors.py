"""Errors of the elicitation stage; each also inherits the built-in it resembles."""

from __future__ import annotations

from mestudio.config.errors import ConfigError


class ElicitError(RuntimeError):
    """Base of elicit/ runtime errors."""


class ProtocolError(ConfigError):
    """A protocol file that cannot be run as it is (typo, bad value, missing clip, bad codec)."""


class ClipFileNotFoundError(ProtocolError, FileNotFoundError):
    """A clip named by the protocol does not exist."""


class ClipCodecError(ProtocolError):
    """A clip file that PyAV cannot open or decode."""


class AudioOutputError(ElicitError, OSError):
    """No sound output device could be opened (clips then play silent, or the run stops if required)."""


class DisplayError(ElicitError):
    """The participant window cannot be shown where the protocol asks."""
