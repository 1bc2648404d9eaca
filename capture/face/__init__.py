"""The synthetic face rig: a real photograph animated by a script of facial actions."""

from mestudio.capture.face.script import AUS, FaceEvent, FaceScript, default_script

__all__ = ["AUS", "FaceEvent", "FaceScript", "default_script"]
