"""Evaluation: the MEGC spotting protocol, ground-truth readers, and comparison with the face rig."""

from mestudio.analysis.evaluation.compare import compare_events, compare_with_script
from mestudio.analysis.evaluation.groundtruth import TruthInterval, read_face_script, read_lgsnet_csv
from mestudio.analysis.evaluation.megc import Counts, iou, match, spotting_scores

__all__ = [
    "Counts",
    "TruthInterval",
    "compare_events",
    "compare_with_script",
    "iou",
    "match",
    "read_face_script",
    "read_lgsnet_csv",
    "spotting_scores",
]
