"""One labelled clip (`Sample`) and a label book (`LabelBook`): what every reader returns."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mestudio.analysis.datasets.aus import AUCode, active_au_numbers

if TYPE_CHECKING:
    import pandas  # imported where used: pandas is an optional dependency

# The study's five ME emotion classes (section 4.1.2, rule 1).
EMOTIONS: tuple[str, ...] = ("Positive", "Negative", "Surprise", "Repression", "Others")
# The eight AUs with more than ten samples in 4DME (Table 5).
STUDY_AUS: tuple[int, ...] = (1, 2, 4, 6, 7, 12, 17, 45)

# Label-book emotion words -> the study's classes. This maps what the coders wrote in the
# emotion column; deriving emotions from AUs (the study's Table 4) lives in analysis.emotion.
_EMOTION_WORDS = {
    "happiness": "Positive",
    "happy": "Positive",
    "positive": "Positive",
    "p": "Positive",
    "disgust": "Negative",
    "sadness": "Negative",
    "sad": "Negative",
    "fear": "Negative",
    "anger": "Negative",
    "contempt": "Negative",
    "negative": "Negative",
    "n": "Negative",
    "surprise": "Surprise",
    "s": "Surprise",
    "repression": "Repression",
    "r": "Repression",
    "others": "Others",
    "other": "Others",
    "ot": "Others",
}


def study_emotion(word: object) -> str | None:
    """The study class for one label-book emotion word, or None for an empty cell."""
    w = str(word).strip().lower() if word is not None else ""
    if not w or w == "nan":
        return None
    return _EMOTION_WORDS.get(w, "Others")


@dataclass(frozen=True)
class Sample:
    """One labelled clip. Frames are the dataset's own frame numbers (inclusive)."""

    dataset: str
    subject: str
    clip: str
    onset: int | None = None
    apex: int | None = None
    offset: int | None = None
    aus: tuple[AUCode, ...] = ()
    emotions: tuple[str, ...] = ()  # study classes, at most two (4DME rule 3)
    raw_emotion: str = ""  # as the label book wrote it
    video: str = ""  # long video / recording the clip comes from, when known
    kind: str = "micro"  # "micro" or "macro"
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def au_numbers(self) -> frozenset[int]:
        return active_au_numbers(self.aus)

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.clip}"


class LabelBook(Sequence[Sample]):
    """An ordered list of samples with the label matrices the protocol and training use."""

    def __init__(self, samples: Iterable[Sample], source: str | Path = "") -> None:
        self.samples = list(samples)
        self.source = str(source)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return LabelBook(self.samples[i], self.source)
        return self.samples[i]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __add__(self, other: LabelBook) -> LabelBook:
        return LabelBook(self.samples + list(other), self.source or other.source)

    @property
    def subjects(self) -> list[str]:
        """Subject ids, dataset-qualified so that two datasets' "01" stay apart."""
        return [f"{s.dataset}/{s.subject}" for s in self.samples]

    def filter(self, keep: Callable[[Sample], bool]) -> LabelBook:
        return LabelBook([s for s in self.samples if keep(s)], self.source)

    def emotion_matrix(self, classes: Sequence[str] = EMOTIONS) -> np.ndarray:
        """(n_samples, n_classes) 0/1: the multi-label emotion targets."""
        y = np.zeros((len(self), len(classes)), np.uint8)
        col = {c: j for j, c in enumerate(classes)}
        for i, s in enumerate(self.samples):
            for e in s.emotions:
                if e in col:
                    y[i, col[e]] = 1
        return y

    def au_matrix(self, aus: Sequence[int] = STUDY_AUS) -> np.ndarray:
        """(n_samples, n_aus) 0/1: the multi-label AU targets (referenced-only AUs are 0)."""
        y = np.zeros((len(self), len(aus)), np.uint8)
        for i, s in enumerate(self.samples):
            present = s.au_numbers
            for j, a in enumerate(aus):
                y[i, j] = a in present
        return y

    def to_frame(self) -> pandas.DataFrame:
        """The book as a pandas DataFrame (one row per sample)."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "dataset": s.dataset,
                    "subject": s.subject,
                    "clip": s.clip,
                    "onset": s.onset,
                    "apex": s.apex,
                    "offset": s.offset,
                    "aus": "+".join(map(str, s.aus)),
                    "emotions": "+".join(s.emotions),
                    "raw_emotion": s.raw_emotion,
                    "video": s.video,
                    "kind": s.kind,
                }
                for s in self.samples
            ]
        )
