"""Device kind (the `kind` key of a [[devices]] section) -> backend class, imported lazily.

Backends import their SDK only when used, so a missing SDK fails that device alone, with a
message saying how to install it.  Synthetic kinds with ``source = "face"`` get the face rig.
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
    "basler-array": "capture.basler:BaslerArray",
    "genicam": "capture.genicam:GenICamCamera",
    "opencv": "capture.opencv_camera:OpenCVCamera",
    "kinect": "capture.kinect:KinectCamera",
    "realsense": "capture.realsense:RealSenseCamera",
    "freenect": "capture.freenect_kinect:FreenectKinect",
    "audio": "capture.audio:AudioInput",
}

FACE_BACKENDS: dict[str, str] = {
    "synthetic-camera": "capture.face.devices:SyntheticFaceCamera",
    "synthetic-rgbd": "capture.face.devices:SyntheticFaceRGBD",
    "synthetic-array": "capture.face.devices:SyntheticFaceArray",
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
            f"device kind {kind!r} has no backend in this build of mestudio "
            f"(available: {', '.join(sorted(BACKENDS))})") from None
    return _load(target)


def create_device(spec) -> Device:
    """A closed device for one [[devices]] section; open it with ``with`` or ``open()``."""
    return backend_class(spec.kind, getattr(spec, "source", None))(spec)
