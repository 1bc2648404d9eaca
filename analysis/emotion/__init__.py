"""AU -> emotion by the 4DME study's Table 4 and its rules 1-7 (analysis.emotion.table)."""

from mestudio.analysis.emotion.table import (
    DECISIVE,
    DEPENDENT,
    EMOTIONS,
    NO_EMOTION,
    EmotionResult,
    emotion_from_aus,
    parse_aus,
)

__all__ = ["DECISIVE", "DEPENDENT", "EMOTIONS", "NO_EMOTION", "EmotionResult", "emotion_from_aus", "parse_aus"]
