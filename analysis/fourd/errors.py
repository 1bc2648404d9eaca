"""Errors of the 4D preprocessing; each also inherits the built-in it resembles."""

from mestudio.analysis.datasets.errors import MethodsError


class MeshError(MethodsError, ValueError):
    """A mesh file or mesh sequence that cannot be read or used (names the file and the fix)."""


class MeshNotFoundError(MethodsError, FileNotFoundError):
    """No mesh where a session or dataset layout puts them."""
