"""Device kind (the `kind` key of a [[devices]] section) -> backend class, imported lazily.

Backends import their SDK only when used, so a missing SDK fails that device alone, with a
message saying how to install it.  Synthetic kinds with ``source = "face"`` get the face rig.
"""

from __future__ import annotations

import importlib

from mestudio.capture.base import Device
from mestudio.capture.errors import SDKUnavailableError

BACKENDS: dict[str, str] = {
    "synthetic-camera": "mestudio.capture.synthetic:SyntheticCamera",
    "synthetic-rgbd": "mestudio.capture.synthetic:SyntheticRGBD",
    "synthetic-array": "mestudio.capture.synthetic:SyntheticArray",
    "synthetic-audio": "mestudio.capture.synthetic:SyntheticAudio",
    "basler-array": "mestudio.capture.basler:BaslerArray",
    "genicam": "mestudio.capture.genicam:GenICamCamera",
    "opencv": "mestudio.capture.opencv_camera:OpenCVCamera",
    "kinect": "mestudio.capture.kinect:KinectCamera",
    "realsense": "mestudio.capture.realsense:RealSenseCamera",
    "freenect": "mestudio.capture.freenect_kinect:FreenectKinect",
    "audio": "mestudio.capture.audio:AudioInput",
    "lsl": "mestudio.capture.lsl:LSLInlet",
}

FACE_BACKENDS: dict[str, str] = {
    "synthetic-camera": "mestudio.capture.face.devices:SyntheticFaceCamera",
    "synthetic-rgbd": "mestudio.capture.face.devices:SyntheticFaceRGBD",
    "synthetic-array": "mestudio.capture.face.devices:SyntheticFaceArray",
}


def _load(target: str) -> type[Device]:
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def backend_class(kind: str, source: str | None = None) -> type[Device]:
    table = FACE_BACKENDS if source == "face" and kind in FACE_BACKENDS else BACKENDS
    try:
        target = table[kind]
    except KeyError:
        raise SDKUnavailableError(
            f"device kind {kind!r} has no backend in this build of mestudio (available: {', '.join(sorted(BACKENDS))})"
        ) from None
    return _load(target)


def create_device(spec) -> Device:
    """A closed device for one [[devices]] section; open it with ``with`` or ``open()``."""
    return backend_class(spec.kind, getattr(spec, "source", None))(spec)
