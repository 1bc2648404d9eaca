"""The one description of every device kind: what the rest of mestudio derives from.

A kind is registered where its config model is defined (config/schema.py) with the
``@device_kind(...)`` decorator, which records the model, its backend class (a ``module:Class``
path that only capture/registry.py imports, lazily, so config/ stays the lowest layer), the
stream ids a section publishes, its media and its capabilities.  The config union of
``[[devices]]`` sections, the backend registry, the stream ids sync/ expects and the kinds in
docs/capture.md all come from ``KINDS`` (tests/test_device_kinds.py checks the last).
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

Media = Literal["video", "rgbd", "audio", "signal"]  # signal: numeric or marker samples (LSL)


class Capability(enum.StrEnum):
    """What a kind can do beyond grabbing; each one is a method of the Device base in capture/."""

    # Device.software_trigger(): one trigger fired by the sync master on the audio clock
    SOFTWARE_TRIGGER = "software-trigger"
    # Device.play_at(sample, wave): plays a sound (the sync chirp) into its own audio track
    SPEAKER = "speaker"
    # replays a recording (a file, a dump) instead of live hardware; Device.finished at its end
    PLAYBACK = "playback"


def one_stream(spec: Any) -> list[str]:
    return [spec.name]


def color_and_depth(spec: Any) -> list[str]:
    return [f"{spec.name}-color", f"{spec.name}-depth"]


def one_per_camera(spec: Any) -> list[str]:
    return [f"{spec.name}-{i}" for i in range(spec.count)]


@dataclass(frozen=True)
class DeviceKind:
    kind: str
    model: type[BaseModel]
    backend: str  # "module:Class" of the capture backend
    streams: Callable[[Any], list[str]]  # section -> the stream ids it publishes
    media: Media
    capabilities: frozenset[Capability] = frozenset()
    # synthetic kinds: the backend per `source` ("face": the 2D face rig, "face3d"/"charuco": the 3D rig)
    source_backends: tuple[tuple[str, str], ...] = ()

    def backend_for(self, source: str | None) -> str:
        """The ``module:Class`` for a section with this ``source`` (the kind's own backend otherwise)."""
        return dict(self.source_backends).get(source or "", self.backend)


KINDS: dict[str, DeviceKind] = {}

M = TypeVar("M", bound=type[BaseModel])


def kind_of(model: type[BaseModel]) -> str:
    """The `kind` tag of a device model (its ``kind: Literal["..."]`` field)."""
    field = model.model_fields.get("kind")
    args = typing.get_args(field.annotation) if field else ()
    if len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{model.__name__}: a device model needs `kind: Literal['<kind>']`")
    return args[0]


def device_kind(
    *,
    backend: str,
    streams: Callable[[Any], list[str]] = one_stream,
    media: Media = "video",
    capabilities: tuple[Capability, ...] = (),
    source_backends: dict[str, str] | None = None,
) -> Callable[[M], M]:
    """Register a ``[[devices]]`` config model as a device kind (a class decorator)."""

    def register(model: M) -> M:
        kind = kind_of(model)
        if kind in KINDS:
            other = KINDS[kind].model.__name__
            raise ValueError(f"device kind {kind!r} is registered twice ({other}, {model.__name__})")
        if ":" not in backend:
            raise ValueError(f"{kind}: backend {backend!r} must be 'module:Class'")
        sources = tuple(sorted((source_backends or {}).items()))
        KINDS[kind] = DeviceKind(kind, model, backend, streams, media, frozenset(capabilities), sources)
        return model

    return register
