"""The study's rules for one clip: its emotion by Table 4 (analysis.emotion, the one copy) unless
the annotator overrode it with a reason, and micro/macro by its duration (section 3.3)."""

from __future__ import annotations

from mestudio.analysis.emotion import EmotionResult, emotion_from_aus
from mestudio.annotate.labels import Clip

MICRO_MAX_S = 0.5  # "clips shorter than 0.5 seconds (from onset to offset) were marked as micro-expressions"
MACRO_MAX_S = 4.0  # "0.5 to 4 seconds ... macro"; longer ones are static and were excluded


def table4(clip: Clip) -> EmotionResult:
    """Table 4 and rules 1-7 for the clip's AUs; static AUs count (rule 7)."""
    return emotion_from_aus(clip.au_numbers)


def emotion_of(clip: Clip) -> str:
    """The clip's emotion label: the override when there is one, else Table 4's ("None": no emotion)."""
    return clip.emotion_override or table4(clip).label


def kind_of(duration_s: float) -> str:
    """micro (< 0.5 s), macro (0.5-4 s) or static (> 4 s, which the study left out)."""
    if duration_s < MICRO_MAX_S:
        return "micro"
    return "macro" if duration_s <= MACRO_MAX_S else "static"
