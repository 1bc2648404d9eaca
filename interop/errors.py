"""Errors of interop/. Each also inherits the built-in it resembles."""


class InteropError(Exception):
    """Base of interop/ errors."""


class XDFError(InteropError, ValueError):
    """Data that an XDF file cannot hold as given."""


class ELANError(InteropError, ValueError):
    """An .eaf file that cannot be read as mestudio labels (the message names the tier or file)."""


class LSLUnavailableError(InteropError, ImportError):
    """pylsl is not installed, so the [lsl] outlets cannot run."""
