"""The annotation window's state and actions, in plain Python (no Qt): the window's keys call these,
and the tests drive the same object headless.

Positions are 0-based places in the source; the labels file stores the frames' own numbers.
Marking onset/apex/offset with no clip selected builds a draft that ``commit`` turns into a clip;
with a clip selected (just committed, picked from the list, or accepted from the spotter) the same
keys move that clip's frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mestudio.analysis.emotion import EmotionResult
from mestudio.annotate.errors import MarkError
from mestudio.annotate.labels import Clip, LabelsFile, au_text, check_emotion_label, parse_au_text
from mestudio.annotate.media import Source, position_of
from mestudio.annotate.rules import kind_of, table4
from mestudio.annotate.timeline import Candidate, Timeline, build_timeline

SPEEDS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
PHASES = ("onset", "apex", "offset")


@dataclass(frozen=True)
class ClipView:
    """A clip as the window lists it: frames, duration, kind and the emotion it gets."""

    clip: Clip
    duration_s: float
    kind: str
    table4: EmotionResult
    emotion: str  # the override, or Table 4's label


class AnnotationState:
    def __init__(self, source: Source, annotator: str, timeline: Timeline | None = None) -> None:
        self.source = source
        self.timeline = timeline if timeline is not None else build_timeline(source)
        self.file = LabelsFile(source.labels_dir, annotator, {**source.describe(), "fps": source.fps})
        self.pos = 0
        self.speed = 0.0  # frames of the source per frame period; < 0 plays backwards; 0 paused
        self.draft: dict[str, int] = {}  # phase -> position
        self.selected: str | None = None
        self.candidate: int | None = None  # the candidate event last gone to
        self.typed = ""  # digits typed: a frame number to go to
        self.message = ""  # what the last action did, or why it could not (the status line)
        if not self.timeline.candidates and not len(self.timeline.score):
            self.message = (
                "no spotting score or candidate events: this recording's live analyzer was off"
                if source.kind == "session"
                else f"a {source.kind} input has no analyzer results: mark the clips by hand"
            )

    # -- navigation ----------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self.source)

    @property
    def number(self) -> int:
        return int(self.source.numbers[self.pos])

    def goto(self, pos: int) -> None:
        self.pos = max(0, min(self.count - 1, int(pos)))

    def step(self, n: int) -> None:
        self.pause()
        self.goto(self.pos + n)

    def goto_number(self, number: int) -> None:
        """Go to frame number ``number`` (the nearest frame when there is none of that number)."""
        self.goto(position_of(self.source, number))
        if self.number != number:
            self.message = f"no frame {number}; at the nearest, {self.number}"

    def type_digit(self, d: str) -> None:
        self.typed = (self.typed + d)[-9:]
        self.message = f"go to frame {self.typed} (Enter)"

    def enter(self) -> None:
        """Enter: go to the typed frame number, else commit the draft."""
        if self.typed:
            n, self.typed = int(self.typed), ""
            self.message = f"at frame {n}"
            self.goto_number(n)
        else:
            self.commit()

    def play(self, direction: int) -> None:
        """L (direction 1) / J (-1): play that way; again: faster, up to 8x."""
        if self.speed == 0 or (self.speed > 0) != (direction > 0):
            self.speed = float(direction)
        else:
            faster = [s for s in SPEEDS if s > abs(self.speed)]
            self.speed = direction * (faster[0] if faster else SPEEDS[-1])

    def slower(self) -> None:
        if self.speed:
            lower = [s for s in SPEEDS if s < abs(self.speed)]
            self.speed = (1 if self.speed > 0 else -1) * (lower[-1] if lower else SPEEDS[0])

    def pause(self) -> None:
        self.speed = 0.0

    def advance(self) -> None:
        """One playback step: exactly one frame (the window's timer sets the pace); stops at the ends."""
        if not self.speed:
            return
        nxt = self.pos + (1 if self.speed > 0 else -1)
        if not 0 <= nxt < self.count:
            self.pause()
            return
        self.pos = nxt

    # -- marking -------------------------------------------------------------------------------
    def mark(self, phase: str) -> None:
        if phase not in PHASES:
            raise MarkError(f"{phase!r} is not one of {', '.join(PHASES)}")
        if self.selected is not None:
            c = self.clips[self.selected]
            frames = {"onset": c.onset, "apex": c.apex, "offset": c.offset, phase: self.number}
            self._change("set", self.selected, {phase: self.number}, check=frames)
            self.message = f"{self.selected}: {phase} at frame {self.number}"
        else:
            self.draft[phase] = self.pos
            self.message = f"draft: {phase} at frame {self.number}" + (
                "" if "offset" in self.draft else "; mark the offset"
            )

    def commit(self) -> str:
        """The draft becomes a clip (selected); onset and offset are needed, the apex may wait."""
        if "onset" not in self.draft or "offset" not in self.draft:
            raise MarkError("mark the onset (I) and the offset (O) first, then Enter")
        num = lambda p: int(self.source.numbers[p])  # noqa: E731
        fields: dict[str, Any] = {k: num(p) for k, p in self.draft.items()}
        cid = self.file.next_clip_id()
        self._change("add", cid, fields, check=fields)
        self.draft = {}
        self.selected = cid
        self.message = f"{cid}: frames {fields['onset']}-{fields['offset']}; now its AUs (U)"
        return cid

    def _change(self, op: str, cid: str, fields: dict[str, Any], check: dict | None = None) -> None:
        if check is not None:
            on, ap, off = check.get("onset"), check.get("apex"), check.get("offset")
            if on is not None and off is not None and off < on:
                raise MarkError(f"offset {off} is before onset {on}")
            if ap is not None and on is not None and off is not None and not on <= ap <= off:
                raise MarkError(f"apex {ap} is not between onset {on} and offset {off}")
        self.file.append(op, clip=cid, fields=fields)

    def _need_selected(self) -> str:
        if self.selected is None or self.selected not in self.clips:
            raise MarkError("no clip selected: commit a draft (Enter), accept a candidate (Y) or pick one in the list")
        return self.selected

    def set_aus(self, text: str) -> None:
        """``1B+2B+R12A+14(k)``: every AU of the clip, intensity A-E, side L/R, (k) static."""
        cid = self._need_selected()
        aus = parse_au_text(text)
        fields: dict[str, Any] = {"aus": au_text(aus)}
        major = self.clips[cid].major_au
        if major is not None and major not in [a.number for a in aus]:
            fields["major_au"] = None  # the major AU must be one of the clip's
        self._change("set", cid, fields)
        self.message = f"{cid}: AUs {fields['aus'] or 'none'} -> {self.view(cid).emotion}"

    def set_major(self, au: int | None) -> None:
        cid = self._need_selected()
        if au is not None and au not in self.clips[cid].au_numbers:
            raise MarkError(f"AU{au} is not one of {cid}'s AUs ({au_text(self.clips[cid].aus) or 'none'})")
        self._change("set", cid, {"major_au": au})

    def set_note(self, text: str) -> None:
        self._change("set", self._need_selected(), {"note": str(text)})

    def override_emotion(self, label: str, reason: str) -> None:
        """Replace Table 4's emotion for the selected clip; a reason is required."""
        cid = self._need_selected()
        if not reason.strip():
            raise MarkError("say why Table 4's emotion is overridden (the reason is kept with the label)")
        self._change("set", cid, {"emotion_override": check_emotion_label(label), "override_reason": reason.strip()})

    def clear_override(self) -> None:
        self._change("set", self._need_selected(), {"emotion_override": "", "override_reason": ""})

    def delete_selected(self) -> None:
        cid = self._need_selected()
        self.file.append("delete", clip=cid)
        self.selected = None
        self.message = f"{cid} deleted (kept in the file's history)"

    def select(self, cid: str | None) -> None:
        if cid is not None and cid not in self.clips:
            raise MarkError(f"no clip {cid!r}")
        self.selected = cid
        self.draft = {}
        if cid is not None:
            self.goto_number(self.clips[cid].onset)

    # -- the spotter's candidates --------------------------------------------------------------
    @property
    def candidates(self) -> list[Candidate]:
        return self.timeline.candidates

    def candidate_status(self, k: int) -> str:
        """open, accepted (a clip came from it), or rejected."""
        if any(c.candidate == k for c in self.clips.values()):
            return "accepted"
        return "rejected" if k in self.file.labels.rejected else "open"

    def next_candidate(self, direction: int = 1) -> Candidate | None:
        """Go to the next (previous) open candidate after (before) the current frame."""
        open_ = [c for c in self.candidates if self.candidate_status(c.index) == "open"]
        here = self.number
        pick = [c for c in open_ if (c.onset > here if direction > 0 else c.onset < here)]
        if not pick:
            self.message = "no more open candidate events that way"
            return None
        c = pick[0] if direction > 0 else pick[-1]
        self.candidate = c.index
        self.selected, self.draft = None, {}
        self.goto_number(c.onset)
        self.message = f"candidate {c.index}: {c.kind} {c.onset}-{c.offset} AU {'+'.join(map(str, c.aus))}"
        return c

    def accept_candidate(self, k: int | None = None) -> str:
        """The candidate becomes a clip (frames and AUs as spotted), selected so it can be adjusted."""
        k = self.candidate if k is None else k
        if k is None or not 0 <= k < len(self.candidates):
            raise MarkError("no candidate event chosen: go to one first (N / Shift+N)")
        if self.candidate_status(k) != "open":
            raise MarkError(f"candidate {k} is already {self.candidate_status(k)}")
        c = self.candidates[k]
        fields = {
            "onset": c.onset,
            "apex": c.apex,
            "offset": c.offset,
            "aus": "+".join(map(str, c.aus)),
            "candidate": k,
        }
        cid = self.file.next_clip_id()
        self._change("add", cid, fields)
        self.selected, self.draft = cid, {}
        self.message = f"candidate {k} accepted as {cid}; adjust with I/A/O, AUs with U"
        return cid

    def reject_candidate(self, k: int | None = None) -> None:
        k = self.candidate if k is None else k
        if k is None or not 0 <= k < len(self.candidates):
            raise MarkError("no candidate event chosen: go to one first (N / Shift+N)")
        if self.candidate_status(k) != "open":
            raise MarkError(f"candidate {k} is already {self.candidate_status(k)}")
        self.file.append("reject", candidate=k)
        self.message = f"candidate {k} rejected"

    # -- what the window shows -----------------------------------------------------------------
    @property
    def clips(self) -> dict[str, Clip]:
        return self.file.labels.clips

    def view(self, cid: str) -> ClipView:
        c = self.clips[cid]
        t = self.source.times_s
        dur = float(t[position_of(self.source, c.offset)] - t[position_of(self.source, c.onset)])
        t4 = table4(c)
        return ClipView(c, dur, kind_of(dur), t4, c.emotion_override or t4.label)
