"""The 4DME study's AU-to-emotion mapping (its Table 4) and labelling rules 1-7, exactly.

Table 4 (Li et al., TAFFC 2022, "Mapping AUs to Emotion Categories of MEs"):

    Negative     AU1, AU4, AU7, AU9, AU10        decisive
    Positive     AU12                            decisive
    Surprise     AU2, AU1+2                      decisive
    Repression   AU14, AU15, AU17, AU24          decisive
    Others       AU5, AU6, AU20, AU25            dependent
    No emotion   AU39, AU43, AU45, AU56, AU58, AU63, AU64

Rules: (1) five categories Positive, Negative, Surprise, Repression, Others; (2) Negative is not
divided; (3) at most two emotions per clip; (4) three or more emotions -> Others; (5) only
dependent AUs -> Others; (6) key AUs of both Positive and Negative -> Others; (7) static and
active AUs both count.

Reading of "AU1+2" (the table lists AU1 under Negative and AU1+2 under Surprise): AU1 together
with AU2 is the Surprise combination, so AU1 then counts for Surprise only; AU1 without AU2 is
Negative.  A clip with no decisive and no dependent AU (nothing, or only no-emotion AUs such as a
blink) gets no emotion ("None").  AUs outside the table (e.g. AU26) are ignored and listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

EMOTIONS = ("Positive", "Negative", "Surprise", "Repression", "Others")
NONE = "None"
DECISIVE: dict[str, frozenset[int]] = {
    "Negative": frozenset({1, 4, 7, 9, 10}),
    "Positive": frozenset({12}),
    "Surprise": frozenset({2}),  # and the combination AU1+2, handled in emotion_from_aus
    "Repression": frozenset({14, 15, 17, 24}),
}
DEPENDENT = frozenset({5, 6, 20, 25})
NO_EMOTION = frozenset({39, 43, 45, 56, 58, 63, 64})
TABLE_AUS = frozenset().union(*DECISIVE.values(), DEPENDENT, NO_EMOTION)

_TOKEN = re.compile(r"^(?:AU)?\s*([LRBTU])?\s*(\d{1,2})\s*([A-E])?\s*(\(k\)|k)?$", re.IGNORECASE)


@dataclass(frozen=True)
class EmotionResult:
    """The emotion(s) of one clip and the rule that decided them."""

    emotions: tuple[str, ...]  # one or two of EMOTIONS, or () for no emotion
    rule: str  # which rule decided: "table", "rule 4", "rule 5", "rule 6", "no emotion"
    aus: tuple[int, ...]  # the AUs considered (static ones included, rule 7)
    ignored: tuple[int, ...] = field(default=())  # AUs not in Table 4

    @property
    def label(self) -> str:
        """ "Positive", "Positive+Surprise", "Others" or "None"."""
        return "+".join(self.emotions) if self.emotions else NONE


def parse_aus(aus: Iterable[int | str] | str) -> list[int]:
    """AU numbers from ints or label-book codes: "4+7+L10", "AU12", "R14B", "12(k)", [1, "2"]."""
    items = re.split(r"[+,;\s]+", aus.strip()) if isinstance(aus, str) else list(aus)
    out: list[int] = []
    for a in items:
        if isinstance(a, int):
            n = a
        else:
            s = str(a).strip()
            if not s:
                continue
            m = _TOKEN.match(s)
            if not m:
                raise ValueError(f"{s!r} is not an AU code (expected e.g. 12, AU12, L12, 12B, 12(k))")
            n = int(m.group(2))
        if n not in out:
            out.append(n)
    return out


def emotion_from_aus(aus: Iterable[int | str] | str, static_aus: Iterable[int | str] = ()) -> EmotionResult:
    """Table 4 and rules 1-7 for the AUs of one clip; ``static_aus`` count the same (rule 7)."""
    present = parse_aus(aus)
    for a in parse_aus(static_aus):
        if a not in present:
            present.append(a)
    ignored = tuple(sorted(a for a in present if a not in TABLE_AUS))
    known = set(present) - set(ignored)
    found: list[str] = []
    surprise_combo = 1 in known and 2 in known
    for emotion, keys in DECISIVE.items():
        hits = keys & known
        if emotion == "Negative" and surprise_combo:
            hits = hits - {1}  # AU1 belongs to the AU1+2 combination (Surprise)
        if hits:
            found.append(emotion)
    result = lambda emos, rule: EmotionResult(emos, rule, tuple(sorted(present)), ignored)  # noqa: E731
    if not found:
        if known & DEPENDENT:
            return result(("Others",), "rule 5")
        return result((), "no emotion")
    if "Positive" in found and "Negative" in found:
        return result(("Others",), "rule 6")
    if len(found) >= 3:
        return result(("Others",), "rule 4")
    order = {e: i for i, e in enumerate(EMOTIONS)}
    return result(tuple(sorted(found, key=order.__getitem__)), "table")
