"""One description per device kind (config/device_kinds.py): config, backends and docs agree with it."""

from __future__ import annotations

import re
import typing

import pytest
from pydantic import BaseModel, ValidationError

from mestudio.capture.base import CAPABILITY_METHODS, Device
from mestudio.capture.errors import CapabilityError
from mestudio.capture.registry import _load, backend_class, create_device
from mestudio.config import schema as S
from mestudio.config.device_kinds import KINDS, Capability, device_kind
from tests.conftest import ROOT


def _union_kinds() -> set[str]:
    """The kinds pydantic accepts in [[devices]], read from SessionConfig's own schema."""
    schema = S.SessionConfig.model_json_schema()
    return set(schema["properties"]["devices"]["items"]["discriminator"]["mapping"])


def _doc_kinds() -> set[str]:
    text = (ROOT / "docs" / "capture.md").read_text(encoding="utf-8")
    table = text.split("\n| kind | backend |", 1)[1].split("\n\n", 1)[0]  # the table of kinds
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.M))


def test_config_registry_and_docs_name_the_same_kinds():
    assert _union_kinds() == set(KINDS) == S.DEVICE_KINDS == _doc_kinds()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_backend_is_the_kind_it_is_registered_as_with_its_capabilities(kind):
    desc = KINDS[kind]
    for path in {desc.backend, *dict(desc.source_backends).values()}:
        cls = _load(path)  # backends import their SDK lazily: importing the module needs none
        assert issubclass(cls, Device) and cls.kind == kind, path
        assert cls.capabilities == desc.capabilities, f"{path} overrides the methods of {set(cls.capabilities)}"


def test_capabilities_are_derived_from_the_methods_a_backend_overrides():
    class Speaker(_load(KINDS["synthetic-camera"].backend)):
        def play_at(self, sample, wave) -> None:
            pass

    assert Speaker.capabilities == {Capability.SPEAKER}
    assert set(CAPABILITY_METHODS) == set(Capability)


def test_a_missing_capability_is_a_clear_error():
    dev = create_device(S.SyntheticCamera(name="cam", kind="synthetic-camera", width=16, height=16))
    for call in (dev.software_trigger, dev.pace_by_external_trigger, dev.playback_source):
        with pytest.raises(CapabilityError, match="cam: the synthetic-camera backend"):
            call()
    with pytest.raises(NotImplementedError):  # CapabilityError is also the built-in it resembles
        dev.play_at(0, None)


@pytest.mark.parametrize(
    "section",
    [
        {"kind": "synthetic-camera", "name": "cam", "source": "face", "width": 64, "height": 48},
        {"kind": "synthetic-rgbd", "name": "kin", "width": 16, "height": 16},
        {"kind": "synthetic-array", "name": "rig", "count": 2, "width": 16, "height": 16},
        {"kind": "synthetic-audio", "name": "mic"},
    ],
)
def test_stream_ids_are_what_the_opened_device_publishes(section):
    spec = S.SessionConfig.model_validate({"devices": [section]}).devices[0]
    with create_device(spec) as dev:
        opened = [s.stream_id for s in dev.streams]
        assert {s.device for s in dev.streams} == {spec.name}  # info.json names its device
        assert all(s.to_json()["device"] == spec.name for s in dev.streams)
    assert spec.stream_ids() == S.stream_ids(spec) == opened


def test_playback_devices_name_their_recording(face_video):
    live = create_device(S.OpenCVCamera(name="cam", kind="opencv", source="0"))
    replay = create_device(S.OpenCVCamera(name="cam", kind="opencv", source=str(face_video)))
    assert live.playback_source() is None and replay.playback_source() == str(face_video)


def test_software_triggering_is_a_property_of_the_section():
    free, trig = (S.BaslerArray(name="b", kind="basler-array", trigger=t) for t in ("free-run", "software"))
    assert not free.software_triggered and trig.software_triggered
    assert not S.SyntheticCamera(name="c", kind="synthetic-camera").software_triggered


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(ValidationError, match="basler-array"):
        S.SessionConfig.model_validate({"devices": [{"kind": "webcam", "name": "x"}]})
    with pytest.raises(ImportError, match="'webcam' has no backend.*synthetic-camera"):
        backend_class("webcam")


def test_registering_a_kind_checks_its_model():
    class NoKind(BaseModel):
        name: str

    with pytest.raises(TypeError, match="NoKind: a device model needs `kind"):
        device_kind(backend="m:C")(NoKind)

    class Again(BaseModel):
        kind: typing.Literal["audio"]

    with pytest.raises(ValueError, match="'audio' is registered twice"):
        device_kind(backend="m:C")(Again)


def test_the_capability_table_of_the_docs_matches_the_kinds():
    text = (ROOT / "docs" / "capture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z-]+)` \| .* \| ((?:`[a-z0-9-]+`(?:, )?)+) \|$", text, flags=re.M)
    documented = {cap: set(re.findall(r"`([a-z0-9-]+)`", kinds)) for cap, kinds in rows if cap in set(Capability)}
    assert documented == {c.value: {k for k, d in KINDS.items() if c in d.capabilities} for c in Capability}
