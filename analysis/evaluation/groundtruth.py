"""Ground truth readers: spotting label CSVs in the LGSNet layout and the face rig's script.

LGSNet CSV (CAS(ME)^2, SAMM long videos, CAS(ME)^3):
``subject,video,type,type_idx,startFrame,endFrame,frame_num,length`` with type Macro/Micro (or
macro-expression/micro-expression) and type_idx 1 (macro) / 2 (micro); frames are inclusive.

Face script (<session>/ground_truth/face_script.json, written by the synthetic face rig): events
{kind micro|macro|blink|head, aus, onset_s, apex_s, offset_s, intensity} in seconds after
``epoch_host_ns`` on the host monotonic clock (the clock of host_time_ns on the wire).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from mestudio.analysis.analyzer.errors import GroundTruthError

LGSNET_COLUMNS = ("subject", "video", "type", "type_idx", "startFrame", "endFrame", "frame_num", "length")
SCRIPT_PATH = Path("ground_truth") / "face_script.json"


@dataclass
class TruthInterval:
    start: float
    end: float
    kind: str  # "micro" or "macro" (or "blink"/"head" for script distractors)
    aus: list[int] = field(default_factory=list)
    apex: float | None = None


def _kind(type_text: str, type_idx: str) -> str:
    t = type_text.strip().lower()
    if t.startswith("micro") or type_idx.strip() == "2":
        return "micro"
    if t.startswith("macro") or type_idx.strip() == "1":
        return "macro"
    raise GroundTruthError(f"unknown expression type {type_text!r} (expected Macro/Micro)")


def read_lgsnet_csv(path: str | Path) -> dict[str, list[TruthInterval]]:
    """video -> its intervals (frames, inclusive), in file order."""
    p = Path(path)
    if not p.is_file():
        raise GroundTruthError(f"{p}: no such label file")
    out: dict[str, list[TruthInterval]] = {}
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in LGSNET_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise GroundTruthError(
                f"{p}: not an LGSNet spotting CSV (missing columns {missing}); expected {','.join(LGSNET_COLUMNS)}"
            )
        for n, row in enumerate(reader, start=2):
            try:
                iv = TruthInterval(int(row["startFrame"]), int(row["endFrame"]), _kind(row["type"], row["type_idx"]))
            except (ValueError, TypeError) as e:
                raise GroundTruthError(f"{p}:{n}: bad row ({e})") from None
            out.setdefault(row["video"].strip(), []).append(iv)
    return out


def read_face_script(path: str | Path) -> tuple[list[TruthInterval], dict]:
    """The script's events as intervals in script seconds, and the script's header fields."""
    p = Path(path)
    if p.is_dir():
        p = p / SCRIPT_PATH
    if not p.is_file():
        raise GroundTruthError(
            f'{p}: no face script; record a session with a synthetic face camera (`source = "face"`) to get one'
        )
    try:
        body = json.loads(p.read_text(encoding="utf-8"))
        events = [
            TruthInterval(
                float(e["onset_s"]),
                float(e["offset_s"]),
                str(e["kind"]),
                [int(a) for a in e.get("aus", [])],
                float(e["apex_s"]),
            )
            for e in body["events"]
        ]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise GroundTruthError(f"{p}: unreadable face script ({type(e).__name__}: {e})") from None
    header = {k: v for k, v in body.items() if k != "events"}
    return events, header
