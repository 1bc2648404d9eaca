"""Errors of the stream stage. Each also inherits the built-in it resembles."""


class StreamError(Exception):
    """Base of stream/ errors."""


class WireFormatError(StreamError, ValueError):
    """A message that does not follow docs/wire-format.md; ``kind`` names the rule it broke."""

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


class SessionError(StreamError, OSError):
    """A session folder that cannot be written or read."""


class NotASessionError(SessionError, FileNotFoundError):
    """A path that is not a mestudio session folder."""


class DiskFullError(SessionError):
    """The output disk filled up (or hit its size limit) while recording."""


class ConsentError(StreamError, PermissionError):
    """The session's consent level does not allow what was asked (replay, export)."""
