"""Errors of sync/. Each also inherits the built-in it resembles; messages say what to do."""


class SyncError(Exception):
    """Base of sync/ errors."""


class NoAudioStreamError(SyncError, LookupError):
    """A session (or config) has no audio stream to act as the sync reference."""


class NotEnoughDataError(SyncError, ValueError):
    """Too few frames or samples to fit a clock model or find a pattern."""


class HostClockError(SyncError, TimeoutError):
    """No reply from another host's time server within the timeout."""


class AudioOutputError(SyncError, LookupError):
    """The audio output that should play the sync chirps is missing (or PyAudio is not installed)."""
