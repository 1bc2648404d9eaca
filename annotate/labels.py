"""One annotator's labels: ``labels/NAME.json``, append-only, every change kept with its time.

    {"format": "mestudio-labels", "version": 1, "annotator": "ann1",
     "source": {"kind": "session", "path": ..., "stream": "face", "numbering": "seq", "fps": 60.0},
     "changes": [
       {"n": 0, "time": "2026-12-01T10:00:00.123Z", "time_ns": ..., "op": "add", "clip": "c1",
        "fields": {"onset": 310, "apex": 318, "offset": 335, "aus": "1B+2B+12(k)", "major_au": 1}},
       {"n": 1, ..., "op": "set", "clip": "c1", "fields": {"note": "blink after"}},
       {"n": 2, ..., "op": "reject", "candidate": 3},
       {"n": 3, ..., "op": "delete", "clip": "c1"}]}

Nothing is ever edited or removed: a change is a new entry, and the labels are the changes replayed
in order.  Each change replaces the whole file atomically (the old or the new file, never half of
one).  Frames are frame numbers of the source (a session stream's sequence numbers, an image's own
number, a video's frame index), as the label book writes them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mestudio.analysis.datasets.aus import AUCode, parse_aus
from mestudio.analysis.emotion import EMOTIONS
from mestudio.annotate.errors import AnnotatorNameError, LabelsConflictError, LabelsFileError, MarkError
from mestudio.stream.session import write_json_atomic

FORMAT = "mestudio-labels"
VERSION = 1
CONSENSUS = "consensus"  # labels/consensus.json and labels/consensus/: the merge's, not an annotator's
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
OPS = ("add", "set", "delete", "reject")
CLIP_FIELDS = ("onset", "apex", "offset", "aus", "major_au", "note", "emotion_override", "override_reason", "candidate")
NO_EMOTION = "None"  # the study's label of a clip with no emotion AU


def check_annotator(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(".json"):
        raise AnnotatorNameError(
            f"annotator name {name!r}: use letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)"
        )
    if name == CONSENSUS or name.startswith("elan-"):
        raise AnnotatorNameError(f"annotator name {name!r} is reserved for the merge and ELAN imports; pick another")
    return name


def parse_au_text(text: str) -> tuple[AUCode, ...]:
    """AUs as a coder types them: ``1B+2B+R12A+14(k)`` (side L/R, intensity A-E, (k) static).

    Unlike a label book's cell, every token must be an AU: a typo is an error, not dropped."""
    out: list[AUCode] = []
    for tok in re.split(r"[+,\s]+", str(text).strip()):
        if not tok:
            continue
        codes = parse_aus(tok.removeprefix("AU").removeprefix("au"))
        if len(codes) != 1 or codes[0].reference or codes[0].side not in ("", "L", "R"):
            raise MarkError(f"{tok!r} is not an AU (write e.g. 12, 12B, L12B, R14A, 12(k): side L/R, intensity A-E)")
        if any(c.number == codes[0].number for c in out):
            raise MarkError(f"AU{codes[0].number} is listed twice in {text!r}")
        out.append(codes[0])
    return tuple(out)


def au_text(aus: tuple[AUCode, ...]) -> str:
    return "+".join(str(a) for a in aus)


def check_emotion_label(label: str) -> str:
    """'Positive', 'Negative+Surprise' (at most two, rule 3) or 'None'."""
    if label == NO_EMOTION:
        return label
    parts = [p.strip() for p in str(label).split("+") if p.strip()]
    if not parts or len(parts) > 2 or any(p not in EMOTIONS for p in parts) or len(set(parts)) != len(parts):
        raise MarkError(f"emotion {label!r}: one or two of {', '.join(EMOTIONS)} joined by '+', or None")
    return "+".join(parts)


@dataclass(frozen=True)
class Clip:
    """One marked expression, in the source's frame numbers (inclusive)."""

    id: str
    onset: int
    offset: int
    apex: int | None = None
    aus: tuple[AUCode, ...] = ()
    major_au: int | None = None  # the AU whose phases decide onset/apex/offset (4DME Fig. 6)
    note: str = ""
    emotion_override: str = ""  # "" = the emotion Table 4 gives
    override_reason: str = ""
    candidate: int | None = None  # the spotter's candidate event this clip was accepted from

    @property
    def au_numbers(self) -> list[int]:
        return [a.number for a in self.aus if not a.reference]

    @property
    def major(self) -> int | None:
        """The major AU: as marked, else the first AU listed."""
        return self.major_au if self.major_au is not None else (self.au_numbers[0] if self.aus else None)

    def fields(self) -> dict[str, Any]:
        return {
            "onset": self.onset,
            "apex": self.apex,
            "offset": self.offset,
            "aus": au_text(self.aus),
            "major_au": self.major_au,
            "note": self.note,
            "emotion_override": self.emotion_override,
            "override_reason": self.override_reason,
            "candidate": self.candidate,
        }


def _int_or_none(v: Any, what: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{what} is {v!r}, not a frame number")
    return v


def _apply_fields(clip: Clip, fields: dict[str, Any]) -> Clip:
    unknown = sorted(set(fields) - set(CLIP_FIELDS))
    if unknown:
        raise ValueError(f"unknown fields {unknown}")
    kw: dict[str, Any] = {}
    for k, v in fields.items():
        if k in ("onset", "offset", "apex", "major_au", "candidate"):
            kw[k] = _int_or_none(v, k)
        elif k == "aus":
            kw[k] = parse_au_text(v if isinstance(v, str) else "")
        elif k == "emotion_override":
            kw[k] = check_emotion_label(v) if v else ""
        else:
            if not isinstance(v, str):
                raise ValueError(f"{k} is a {type(v).__name__}, not text")
            kw[k] = v
    new = replace(clip, **kw)
    if new.onset is None or new.offset is None:
        raise ValueError("a clip needs an onset and an offset")
    if new.offset < new.onset or (new.apex is not None and not new.onset <= new.apex <= new.offset):
        raise ValueError(f"frames onset {new.onset}, apex {new.apex}, offset {new.offset} are not in order")
    if new.emotion_override and not new.override_reason.strip():
        raise ValueError("an emotion override needs a reason")
    return new


@dataclass
class Labels:
    """The labels as the changes leave them."""

    clips: dict[str, Clip] = field(default_factory=dict)
    rejected: set[int] = field(default_factory=set)  # candidate events the annotator rejected
    bad_changes: list[str] = field(default_factory=list)  # changes that could not be applied (counted, kept)


def apply_change(labels: Labels, ch: Any) -> None:
    """Apply one change in place; a ValueError (or KeyError, TypeError) says why it cannot apply."""
    if not isinstance(ch, dict):
        raise ValueError(f"a JSON {type(ch).__name__}, not an object")
    op = ch.get("op")
    if op == "reject":
        labels.rejected.add(int(ch["candidate"]))
        return
    cid = ch.get("clip")
    if not isinstance(cid, str) or not cid:
        raise ValueError("no clip id")
    fields = ch.get("fields") or {}
    if not isinstance(fields, dict):
        raise ValueError("fields is not an object")
    if op == "add":
        if cid in labels.clips:
            raise ValueError(f"clip {cid!r} added twice")
        if "onset" not in fields or "offset" not in fields:
            raise ValueError("a clip needs an onset and an offset")
        labels.clips[cid] = _apply_fields(Clip(cid, 0, 0), fields)
    elif op == "set":
        if cid not in labels.clips:
            raise ValueError(f"clip {cid!r} was never added")
        labels.clips[cid] = _apply_fields(labels.clips[cid], fields)
    elif op == "delete":
        if labels.clips.pop(cid, None) is None:
            raise ValueError(f"clip {cid!r} was never added")
    else:
        raise ValueError(f"op {op!r} is not one of {', '.join(OPS)}")


def replay(changes: list[Any], where: str = "labels") -> Labels:
    """Apply the changes in order; one that cannot apply is recorded in ``bad_changes`` and skipped."""
    out = Labels()
    for i, ch in enumerate(changes):
        try:
            apply_change(out, ch)
        except (KeyError, TypeError, ValueError) as e:
            out.bad_changes.append(f"{where}: change {i}: {type(e).__name__}: {e}")
    return out


def labels_path(folder: str | Path, annotator: str) -> Path:
    return Path(folder) / f"{check_annotator(annotator)}.json"


def read_labels_doc(path: str | Path) -> dict:
    """A labels file's document, checked to be one (a clear error names the file otherwise)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise LabelsFileError(f"{p}: no such labels file") from None
    except (ValueError, RecursionError) as e:
        raise LabelsFileError(f"{p}: not a labels file (unreadable JSON: {str(e)[:80]})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LabelsFileError(f"{p}: not a mestudio labels file (format is not {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise LabelsFileError(f"{p}: labels version {doc.get('version')!r}; this mestudio reads version {VERSION}")
    if not isinstance(doc.get("changes"), list) or not isinstance(doc.get("source", {}), dict):
        raise LabelsFileError(f"{p}: 'changes' is not a list (or 'source' not an object)")
    if doc.get("annotator") != p.stem:
        raise LabelsFileError(f"{p}: written by annotator {doc.get('annotator')!r}, not {p.stem!r}; rename it back")
    return doc


def _now() -> tuple[str, int]:
    ns = time.time_ns()
    stamp = dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return stamp, ns


class LabelsFile:
    """An annotator's labels file, opened for adding changes (created on the first change)."""

    def __init__(self, folder: str | Path, annotator: str, source: dict[str, Any]) -> None:
        self.annotator = check_annotator(annotator)
        self.path = labels_path(folder, annotator)
        self.source = dict(source)
        self._stat: tuple[int, int] | None = None
        if self.path.exists():
            doc = read_labels_doc(self.path)
            old = doc.get("source", {})
            for key in ("kind", "stream", "numbering"):
                if key in old and key in source and old[key] != source[key]:
                    raise LabelsFileError(
                        f"{self.path}: these labels are of {key} {old[key]!r}, not {source[key]!r}; "
                        "open the same input (or another --annotator)"
                    )
            self.changes: list[dict] = doc["changes"]
            self.source = {**old, **source}
            self._stat = self._disk_stat()
        else:
            self.changes = []
        self.labels = replay(self.changes, str(self.path))

    def _disk_stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns

    def append(self, op: str, **body: Any) -> dict:
        """Add one change (checked by applying it first), write the file, return the change."""
        stamp, ns = _now()
        change = {"n": len(self.changes), "time": stamp, "time_ns": ns, "op": op, **body}
        new = Labels(dict(self.labels.clips), set(self.labels.rejected), list(self.labels.bad_changes))
        try:
            apply_change(new, change)
        except (KeyError, TypeError, ValueError) as e:
            raise MarkError(str(e)) from None
        if self._disk_stat() != self._stat:
            raise LabelsConflictError(
                f"{self.path} changed on disk since this window last wrote it (another window for "
                f"annotator {self.annotator!r}?); close the other one and reopen"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "annotator": self.annotator,
            "source": self.source,
            "changes": [*self.changes, change],
        }
        write_json_atomic(self.path, doc)
        self.changes.append(change)
        self.labels = new
        self._stat = self._disk_stat()
        return change

    def next_clip_id(self) -> str:
        used = {ch.get("clip") for ch in self.changes if isinstance(ch, dict)}
        k = 1
        while f"c{k}" in used:
            k += 1
        return f"c{k}"


def read_annotators(folder: str | Path) -> dict[str, tuple[dict, Labels]]:
    """Every annotator's labels file in a labels folder: name -> (its source, its labels)."""
    out = {}
    for p in sorted(Path(folder).glob("*.json")):
        if p.stem == CONSENSUS or p.stem.startswith("elan-") or p.name.endswith(".source.json"):
            continue
        doc = read_labels_doc(p)
        out[p.stem] = (doc.get("source", {}), replay(doc["changes"], str(p)))
    return out
