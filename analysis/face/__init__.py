"""Face detection, 478 landmarks (mediapipe face mesh), choice of face, loss, alignment and crop."""

from mestudio.analysis.face.align import CROP, Aligner, template_points
from mestudio.analysis.face.landmarks import FaceObservation, FaceTracker

__all__ = ["CROP", "Aligner", "FaceObservation", "FaceTracker", "template_points"]
