"""Errors of gui/. Each also inherits the built-in it resembles."""


class QtBindingError(ImportError):
    """The Qt binding is missing or known to crash this Python; the message says what to install."""
