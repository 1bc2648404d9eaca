"""Device kind (the `kind` key of a [[devices]] section) -> backend class, imported lazily.

Backends import their SDK only when used, so a missing SDK fails that device alone, with a
message saying how to install it.
"""
from __future__ import annotations

import importlib

from capture.base import Device
from capture.errors import SDKUnavailableError

BACKENDS: dict[str, str] = {
    "synthetic-camera": "capture.synthetic:SyntheticCamera",
    "synthetic-rgbd": "capture.synthetic:SyntheticRGBD",
    "synthetic-array": "capture.synthetic:SyntheticArray",
    "synthetic-audio": "capture.synthetic:SyntheticAudio",
}


def backend_class(kind: str) -> type[Device]:
    try:
        target = BACKENDS[kind]
    except KeyError:
        raise SDKUnavailableError(
            f"device kind {kind!r} has no backend in this build of mestudio "
            f"(available: {', '.join(sorted(BACKENDS))})") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def create_device(spec) -> Device:
    """A closed device for one [[devices]] section; open it with ``with`` or ``open()``."""
    return backend_class(spec.kind)(spec)
