"""Preprocessing as the study did: alignment + 150x150 crops, TIM to 10 frames, random 112x112
crops for training, optional Eulerian motion magnification."""

from mestudio.analysis.preprocess.align import align_clip, alignment_matrix, mediapipe_landmarks
from mestudio.analysis.preprocess.crops import center_crop, random_crop, resize_clip
from mestudio.analysis.preprocess.magnify import magnify
from mestudio.analysis.preprocess.tim import tim_interpolate

__all__ = [
    "align_clip",
    "alignment_matrix",
    "mediapipe_landmarks",
    "center_crop",
    "random_crop",
    "resize_clip",
    "magnify",
    "tim_interpolate",
]
