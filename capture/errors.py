"""Errors of capture/. Each also inherits the built-in it resembles."""


class CaptureError(Exception):
    """Base of capture/ errors."""


class DeviceNotFoundError(CaptureError, LookupError):
    """The configured device is not attached (or not visible to its SDK)."""


class SDKUnavailableError(CaptureError, ImportError):
    """The SDK a backend needs is not installed on this machine."""


class DeviceFaultError(CaptureError, OSError):
    """A running device stopped working (unplugged, a driver error, a fault asked of a synthetic one)."""


class DeviceStateError(CaptureError, RuntimeError):
    """A lifecycle call made in the wrong state (e.g. read() before start())."""


class CapabilityError(DeviceStateError, NotImplementedError):
    """A capability (software trigger, speaker, playback) asked of a backend that does not have it."""
