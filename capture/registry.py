"""Device kind (the `kind` key of a [[devices]] section) -> backend class, imported lazily.

The table is derived from the device kinds registered in config/ (config/device_kinds.py), the
one place a kind is described.  Backends import their SDK only when used, so a missing SDK fails
that device alone, with a message saying how to install it.  Synthetic kinds pick their backend by
``source``: ``"face"`` the 2D face rig, ``"face3d"`` (and ``"charuco"``) the 3D face rig.
"""

from __future__ import annotations

import importlib

import mestudio.config.schema  # noqa: F401  # registers every kind's config model
from mestudio.capture.base import Device
from mestudio.capture.errors import SDKUnavailableError
from mestudio.config.device_kinds import KINDS


def _load(target: str) -> type[Device]:
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def backend_path(kind: str, source: str | None = None) -> str:
    """The ``module:Class`` of the backend for a kind (and, for synthetic kinds, its source)."""
    try:
        desc = KINDS[kind]
    except KeyError:
        raise SDKUnavailableError(
            f"device kind {kind!r} has no backend in this build of mestudio (available: {', '.join(sorted(KINDS))})"
        ) from None
    return desc.backend_for(source)


def backend_class(kind: str, source: str | None = None) -> type[Device]:
    return _load(backend_path(kind, source))


def create_device(spec) -> Device:
    """A closed device for one [[devices]] section; open it with ``with`` or ``open()``."""
    return backend_class(spec.kind, getattr(spec, "source", None))(spec)
