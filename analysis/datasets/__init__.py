"""Label books and clips of ME datasets, and clips cut from mestudio sessions.

book = read_label_book("CASME2-coding-20190701.xlsx", "casme2")
clip = read_clip("CASME2_RAW_selected", book[0])      # (T, H, W) uint8
"""

from mestudio.analysis.datasets.aus import AUCode, parse_aus
from mestudio.analysis.datasets.clips import clip_folder, read_clip, write_clip
from mestudio.analysis.datasets.errors import ClipNotFoundError, LabelBookError
from mestudio.analysis.datasets.readers import READERS, read_label_book
from mestudio.analysis.datasets.samples import EMOTIONS, STUDY_AUS, LabelBook, Sample, study_emotion
from mestudio.analysis.datasets.sessions import intervals_from_events, session_clips
from mestudio.analysis.datasets.synthetic import synthetic_dataset

__all__ = [
    "AUCode",
    "parse_aus",
    "clip_folder",
    "read_clip",
    "write_clip",
    "ClipNotFoundError",
    "LabelBookError",
    "READERS",
    "read_label_book",
    "EMOTIONS",
    "STUDY_AUS",
    "LabelBook",
    "Sample",
    "study_emotion",
    "intervals_from_events",
    "session_clips",
    "synthetic_dataset",
]
