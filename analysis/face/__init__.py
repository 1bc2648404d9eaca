"""Face detection, 478 landmarks (mediapipe face mesh), choice of face, loss, alignment and crop."""
from analysis.face.align import CROP, Aligner, template_points
from analysis.face.landmarks import FaceObservation, FaceTracker

__all__ = ["CROP", "Aligner", "FaceObservation", "FaceTracker", "template_points"]
