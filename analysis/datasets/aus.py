"""Action-unit codes as the label books write them: ``4+7+L10``, ``A1B+A2C``, ``ref(7B)+43``.

Prefixes: L/R unilateral (left/right), A asymmetric, T and B as SAMM writes them (kept as side).
Suffix letters A-E are FACS intensities; ``(k)`` marks a static AU (present but not moving within the
clip, 4DME's Fig. 6; it counts as present). ``ref(...)`` marks an AU the coder only referenced (not
counted as active). ``X or Y`` and ``X/Y`` are the coder's alternatives: the first one is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"^(?P<side>[LRATB]?)(?P<num>\d{1,2})(?P<intensity>[A-E]?)$")
_STATIC = re.compile(r"\(k\)$", re.IGNORECASE)
_REF = re.compile(r"^ref\((?P<inner>[^)]*)\)$", re.IGNORECASE)


@dataclass(frozen=True)
class AUCode:
    """One coded action unit."""

    number: int
    side: str = ""  # "", "L", "R", "A" (asymmetric), "T", "B"
    intensity: str = ""  # "", "A".."E"
    reference: bool = False
    static: bool = False  # "(k)": present without motion change within the clip

    def __str__(self) -> str:
        s = f"{self.side}{self.number}{self.intensity}" + ("(k)" if self.static else "")
        return f"ref({s})" if self.reference else s


def _parse_token(tok: str) -> AUCode | None:
    tok = tok.strip()
    ref = _REF.match(tok)
    if ref:
        inner = _parse_token(ref.group("inner"))
        return None if inner is None else AUCode(inner.number, inner.side, inner.intensity, True, inner.static)
    static = _STATIC.search(tok)
    if static:
        inner = _parse_token(tok[: static.start()])
        return None if inner is None else AUCode(inner.number, inner.side, inner.intensity, inner.reference, True)
    # alternatives: "R12 or R14", "A/L12" (side alternative), "4A/B" (intensity alternative)
    tok = re.split(r"\s+or\s+", tok)[0].strip("() ")
    if "/" in tok:
        head, _, tail = tok.partition("/")
        if re.fullmatch(r"[A-E]", tail) and _TOKEN.match(head):
            tok = head
        elif re.fullmatch(r"[LRATB]", head):
            tok = tail
        else:
            tok = head
    m = _TOKEN.match(tok.replace(" ", ""))
    if not m:
        return None
    return AUCode(int(m.group("num")), m.group("side"), m.group("intensity"))


def parse_aus(text: object) -> tuple[AUCode, ...]:
    """All AU codes in a label-book cell; words that are not AUs ("soft focus") are skipped."""
    if text is None:
        return ()
    s = str(text).strip()
    if not s or s.lower() in {"nan", "none", "-"}:
        return ()
    # "(R6 or R12) + R15": drop grouping parentheses that are not ref(...)
    s = re.sub(r"(?<!ref)\(([^()]*\bor\b[^()]*)\)", r"\1", s, flags=re.IGNORECASE)
    out: list[AUCode] = []
    for tok in s.split("+"):
        code = _parse_token(tok)
        if code is not None:
            out.append(code)
    return tuple(out)


def active_au_numbers(codes: tuple[AUCode, ...]) -> frozenset[int]:
    """AU numbers coded as present (referenced-only AUs left out)."""
    return frozenset(c.number for c in codes if not c.reference)
