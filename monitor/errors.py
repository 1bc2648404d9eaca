"""Errors of the monitor. Each also inherits the built-in it resembles."""


class MonitorError(Exception):
    """Base of monitor/ errors."""


class NoSessionError(MonitorError, LookupError):
    """Nothing to connect to: no running session, replay, or bus.json at the given path."""
