"""A stimulus protocol: typed models of a protocol TOML file, loading, and the clip order.

Unknown keys are errors, reported on one line naming the file and the key
(config.loader.validate).  Clip paths are relative to the protocol file.  A clip either names a
`file` (the lab's films) or a `generated` demo style (made by elicit/democlips.py at run time).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mestudio.config.errors import ConfigError
from mestudio.config.loader import read_toml, validate
from mestudio.elicit.errors import ProtocolError

ID_RE = r"^[a-z0-9][a-z0-9_-]{0,47}$"
GENERATED_STYLES = ("waves", "ball", "checker", "rings")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clip(_Strict):
    id: str = Field("", pattern=r"^$|" + ID_RE)
    title: str = Field(min_length=1)
    description: str = ""
    source: str = ""  # "movie clip", "internet video" ... (Table 2's column)
    file: str = ""  # path of the film, relative to the protocol file
    generated: Literal["", "waves", "ball", "checker", "rings"] = ""  # or a generated demo clip
    duration_s: float = Field(gt=0, le=4 * 3600)  # expected length (generated: its length)
    emotions: list[str] = []  # target emotions

    @model_validator(mode="after")
    def _one_source(self) -> Clip:
        if self.file and self.generated:
            raise ValueError("a clip has either `file` or `generated`, not both")
        if not self.id:
            object.__setattr__(self, "id", slug(self.title))
        return self


class Question(_Strict):
    id: str = Field(pattern=ID_RE)
    kind: Literal["choice", "multi", "scale", "text"]
    text: str = Field(min_length=1)
    options: list[str] = []  # choice, multi
    min: int = 1  # scale
    max: int = 9
    min_label: str = ""
    max_label: str = ""

    @model_validator(mode="after")
    def _fits_kind(self) -> Question:
        if self.kind in ("choice", "multi") and len(self.options) < 2:
            raise ValueError(f"question {self.id!r}: a {self.kind} question needs at least two `options`")
        if self.kind == "scale" and not self.min < self.max <= self.min + 20:
            raise ValueError(f"question {self.id!r}: a scale needs min < max <= min + 20")
        return self


class Display(_Strict):
    screen: int = Field(0, ge=0)  # which display the participant window goes full screen on
    fullscreen: bool = True
    size: tuple[int, int] = (1280, 720)  # window size when not full screen (and headless)
    background: str = Field("#000000", pattern=r"^#[0-9a-fA-F]{6}$")
    text_color: str = Field("#e0e0e0", pattern=r"^#[0-9a-fA-F]{6}$")
    photodiode: Literal["none", "top-left", "top-right", "bottom-left", "bottom-right"] = "none"
    photodiode_px: int = Field(60, ge=4, le=400)
    photodiode_ms: int = Field(200, ge=17, le=5000)  # white this long at each clip onset


class Audio(_Strict):
    device: str = ""  # part of the output device's name; "" is the system default
    required: bool = False  # true: no sound output is an error before the start, not silence
    volume: float = Field(1.0, ge=0, le=1)


class ProtocolInfo(_Strict):
    name: str = Field(pattern=ID_RE)
    title: str = ""
    order: Literal["fixed", "counterbalanced", "shuffled"] = "fixed"
    break_s: float = Field(60.0, ge=0, le=3600)  # after each clip, with the survey
    survey_after_trial: bool = True
    instructions: str = "Please keep a neutral face while watching the clips."
    start_text: str = "The recording starts now."  # shown after the trial run
    end_text: str = "Thank you. The session is over."
    instructions_s: float = Field(0.0, ge=0)  # 0: wait for the participant (or the operator) to go on
    start_text_s: float = Field(3.0, ge=0)


class Protocol(_Strict):
    protocol: ProtocolInfo
    display: Display = Display()
    audio: Audio = Audio()
    trial: Clip | None = None
    clips: list[Clip] = Field(min_length=1)
    survey: list[Question] = []
    source_path: Path = Path(".")  # set by load_protocol; not a key of the file

    @model_validator(mode="after")
    def _unique_ids(self) -> Protocol:
        seen: set[str] = set()
        for c in self.all_clips():
            if c.id in seen:
                raise ValueError(f"two clips have the id {c.id!r}: give each an `id`")
            seen.add(c.id)
        qs = [q.id for q in self.survey]
        if len(set(qs)) != len(qs):
            raise ValueError("two survey questions have the same `id`")
        return self

    def all_clips(self) -> list[Clip]:
        return ([self.trial] if self.trial else []) + list(self.clips)

    def clip_path(self, clip: Clip) -> Path:
        """Where the clip's file is (a generated clip: in the cache, see democlips)."""
        if clip.generated:
            from mestudio.elicit.democlips import cached_path

            return cached_path(clip.generated, clip.duration_s, clip.id)
        p = Path(clip.file).expanduser()
        return p if p.is_absolute() else self.source_path.parent / p

    def ordered_clips(self, participant: str) -> list[Clip]:
        """The recorded clips in this participant's order (the trial run always comes first)."""
        n = len(self.clips)
        order = self.protocol.order
        if order == "fixed" or n == 1:
            return list(self.clips)
        k = participant_index(participant)
        if order == "counterbalanced":
            rows = williams_square(n)
            return [self.clips[i] for i in rows[k % len(rows)]]
        import random

        idx = list(range(n))
        random.Random(f"{self.protocol.name}:{participant}").shuffle(idx)
        return [self.clips[i] for i in idx]


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48].strip("-")
    return s or "clip"


def participant_index(participant: str) -> int:
    """P07 -> 7; a code without digits -> a stable number from its hash."""
    digits = re.findall(r"\d+", participant)
    if digits:
        return int(digits[-1])
    return int(hashlib.sha1(participant.encode()).hexdigest()[:8], 16)


def williams_square(n: int) -> list[list[int]]:
    """Rows of a balanced Latin square: each clip follows each other clip equally often.

    n rows for even n, 2n rows (each row and its mirror) for odd n (Williams 1949)."""
    first = [0]
    lo, hi = 1, n - 1
    for j in range(1, n):
        if j % 2:
            first.append(lo)
            lo += 1
        else:
            first.append(hi)
            hi -= 1
    rows = [[(x + r) % n for x in first] for r in range(n)]
    if n % 2:
        rows += [list(reversed(r)) for r in rows]
    return rows


def resolve_protocol_path(path: str | Path) -> Path:
    """The file as given or, when it is not there, a protocol shipped in config/ by that name."""
    p = Path(path)
    if not p.exists() and len(p.parts) == 1:
        from mestudio.config.loader import bundled_config

        try:
            return bundled_config(p.name)
        except ConfigError:
            pass
    return p


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate a protocol file; errors are one line naming the file and the key.

    A bare name (``demo-protocol.toml``) not found in the working directory is looked up among
    the protocols shipped in config/."""
    p = resolve_protocol_path(path)
    try:
        data = read_toml(p)
    except ConfigError as e:
        raise ProtocolError(str(e)) from None
    if "source_path" in data:
        raise ProtocolError(f"{p}: source_path: unknown key (check its spelling; see config/demo-protocol.toml)")
    try:
        proto = validate(Protocol, data, str(p))
    except ConfigError as e:
        raise ProtocolError(str(e).replace("see config/demo.toml", "see config/demo-protocol.toml")) from None
    return proto.model_copy(update={"source_path": p.resolve()})
