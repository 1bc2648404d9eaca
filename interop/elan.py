"""ELAN (.eaf) files: a session's events as tiers over its frontal video, and coders' tiers back as labels.

Export (`mestudio export SESSION --what elan`), one tier per kind of thing:

| tier              | one annotation per                          | value                          |
|-------------------|---------------------------------------------|--------------------------------|
| `spotted-kind`    | analyzer event (micro, macro, blink)        | its kind                       |
| `spotted-AUs`     | the same event, same times                  | `AU1+AU2` (empty: none)        |
| `spotted-emotion` | the same event, same times                  | its emotion                    |
| `protocol`        | clip (onset -> offset), break (start -> end)| `clip <id>`, `break <id>`      |
| `operator`        | operator mark (100 ms long)                 | `mark` or the mark's text      |
| `clips`           | label-book clip (export --what clips)       | `<clip>: AUs emotion type`     |

ELAN's time 0 is the linked video's first frame: annotation ms = session time - that frame's
session time (the `mestudio_video_start_ms` property keeps it, so an import maps back exactly).

Import (`mestudio import-annotations SESSION FILE.eaf`): every tier's annotations become label
records in `<session>/labels/elan-<file>.jsonl`, shaped like events.jsonl lines (body type
"annotation", `onset_s`/`offset_s` session seconds widened by half a millisecond each side, since
ELAN keeps whole ms, `kind`, `aus`, `emotions`, `tier`, `value`),
which `analysis.datasets.sessions.intervals_from_events` reads for training and evaluation.
The three `spotted-*` tiers (or a coder's copy of them) merge back into one record per interval;
`protocol`, `operator` and `clips` come back as type "note".
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from mestudio.interop.errors import ELANError
from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_reader import SessionReader

SPOTTED = ("spotted-kind", "spotted-AUs", "spotted-emotion")
NOTE_TIERS = ("protocol", "operator", "clips")
MARK_MS = 100
AU_RE = re.compile(r"AU\s*(\d+)", re.IGNORECASE)
KINDS = ("micro", "macro", "blink")


def _pympi():
    try:
        import pympi
    except ImportError as e:
        raise ELANError(f"ELAN files need pympi-ling, which is not installed ({e}); `pip install pympi-ling`") from None
    return pympi


def video_start_ns(reader: SessionReader, frontal: str) -> int:
    """Session time (ns from t0) of the frontal video's first frame: ELAN's time 0."""
    t0 = int(reader.manifest.get("t0_host_ns", 0))
    st = reader.stream(frontal)
    if len(st) == 0:
        raise ELANError(f"{reader.root}: stream {frontal!r} has no frames to link the .eaf to")
    return int(st.index["host_time_ns"][0]) - t0


def export_eaf(reader: SessionReader, path: str | Path, video: str | Path, frontal: str = "face") -> dict[str, int]:
    """Write the .eaf; returns {tier: annotations}."""
    pympi = _pympi()
    t0 = int(reader.manifest.get("t0_host_ns", 0))
    start_ns = video_start_ns(reader, frontal)

    def ms(host_ns: float) -> int:  # host clock (ns) -> ELAN ms
        return int(round((host_ns - t0 - start_ns) / 1e6))

    eaf = pympi.Elan.Eaf(author="mestudio")
    eaf.remove_tier("default")
    path, video = Path(path), Path(video)
    rel = video.name if video.parent.resolve() == path.parent.resolve() else str(video)
    eaf.add_linked_file(str(video.resolve()), relpath=rel, mimetype="video/x-matroska")
    eaf.add_property("mestudio_session", reader.root.name)
    eaf.add_property("mestudio_video_stream", frontal)
    eaf.add_property("mestudio_video_start_ms", f"{start_ns / 1e6:.3f}")
    tiers: dict[str, list[tuple[int, int, str]]] = {t: [] for t in (*SPOTTED, *NOTE_TIERS)}
    events = reader.events()
    for e in events:
        body = e.get("body")
        b = body if isinstance(body, dict) else {}
        topic = str(e.get("topic", ""))
        if topic.startswith("results/") and b.get("type") == "event" and "onset_s" in b and "offset_s" in b:
            a, z = ms(float(b["onset_s"]) * 1e9), ms(float(b["offset_s"]) * 1e9)
            z = max(z, a + 1)
            aus = "+".join(f"AU{int(u)}" for u in b.get("aus") or [])
            tiers["spotted-kind"].append((a, z, str(b.get("kind", ""))))
            tiers["spotted-AUs"].append((a, z, aus))
            tiers["spotted-emotion"].append((a, z, str(b.get("emotion") or "")))
        elif topic == "command/mark" and isinstance(e.get("host_time_ns"), int):
            a = ms(e["host_time_ns"])
            tiers["operator"].append((a, a + MARK_MS, str(b.get("text") or b.get("label") or "mark")))
    tiers["protocol"] = _phases(events, ms)
    tiers["clips"] = _clips(reader, path.parent / "clips" / "labelbook.csv", frontal, ms)
    for name, anns in tiers.items():
        eaf.add_tier(name)
        for a, z, value in anns:
            if z > a >= 0:  # ELAN cannot hold an interval before the video's first frame
                eaf.add_annotation(name, a, z, value)
    eaf.to_file(str(path))
    return {name: len(eaf.get_annotation_data_for_tier(name)) for name in tiers}


def _phases(events: list[dict], ms) -> list[tuple[int, int, str]]:
    """Clips (onset -> offset) and breaks (start -> end) of the protocol, from its markers."""
    out, open_at = [], {}
    pairs = {"clip_onset": ("clip", True), "clip_offset": ("clip", False), "break_start": ("break", True)}
    pairs["break_end"] = ("break", False)
    for e in events:
        body = e.get("body")
        b = body if isinstance(body, dict) else {}
        if e.get("topic") != "markers/elicit" or b.get("event") not in pairs:
            continue
        what, opens = pairs[b["event"]]
        if opens:
            open_at[what] = (ms(e["host_time_ns"]), b.get("clip", ""))
        elif what in open_at:
            a, clip = open_at.pop(what)
            out.append((a, ms(e["host_time_ns"]), f"{what} {clip}".strip()))
    return out


def _clips(reader: SessionReader, book: Path, frontal: str, ms) -> list[tuple[int, int, str]]:
    """The label book's clips (frame numbers of the frontal stream) as intervals, when one was exported."""
    if not book.is_file():
        return []
    idx = reader.stream(frontal).index
    seqs, host = idx["seq"].astype(np.int64), idx["host_time_ns"].astype(np.int64)
    period = int(np.median(np.diff(host))) if len(host) > 1 else 0
    out = []
    with open(book, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                on, off = int(row["Onset"]), int(row["Offset"])
            except (KeyError, ValueError):
                continue
            i, j = np.searchsorted(seqs, on), np.searchsorted(seqs, off)
            if i >= len(seqs) or j >= len(seqs):
                continue
            rest = " ".join(v for v in (row.get("AUs"), row.get("Emotion"), row.get("Type")) if v)
            out.append((ms(host[i]), ms(host[j] + period), f"{row.get('Clip', '')}: {rest}"))
    return out


# -- import ------------------------------------------------------------------------------------


def read_eaf(path: str | Path) -> tuple[dict[str, list[tuple[int, int, str]]], dict[str, str]]:
    """{tier: [(start ms, end ms, value)]} and the file's properties; a clear error for a bad file."""
    pympi = _pympi()
    path = Path(path)
    if not path.is_file():
        raise ELANError(f"{path}: no such .eaf file")
    try:
        eaf = pympi.Elan.Eaf(str(path))
    except Exception as e:
        raise ELANError(f"{path}: not a readable ELAN file ({type(e).__name__}: {e})") from None
    tiers = {}
    for name in eaf.get_tier_names():
        try:
            tiers[name] = sorted((int(a), int(z), str(v)) for a, z, v, *_ in eaf.get_annotation_data_for_tier(name))
        except (KeyError, TypeError, ValueError) as e:
            raise ELANError(f"{path}: tier {name!r} has an annotation without times ({e})") from None
    return tiers, dict(eaf.get_properties())


def labels_from_eaf(reader: SessionReader, path: str | Path, frontal: str | None = None) -> list[dict]:
    """The .eaf's annotations as label records (events.jsonl shape), on the session's timeline."""
    tiers, props = read_eaf(path)
    stream = frontal or props.get("mestudio_video_stream") or "face"
    if "mestudio_video_start_ms" in props and stream == props.get("mestudio_video_stream", stream):
        try:
            start_ms = float(props["mestudio_video_start_ms"])
        except ValueError:
            raise ELANError(f"{path}: property mestudio_video_start_ms is not a number") from None
    else:  # a file made elsewhere on our video: its time 0 is the video's first frame
        start_ms = video_start_ns(reader, stream) / 1e6
    annotator = Path(path).stem

    def record(a: int, z: int, body: dict) -> dict:
        return {
            "topic": "labels/elan",
            "kind": "event",
            "stream_id": annotator,
            "body": {
                # ELAN keeps whole ms: a boundary at m covers the frames whose time rounds to m
                "onset_s": round((a - 0.5 + start_ms) / 1e3, 6),
                "offset_s": round((z + 0.5 + start_ms) / 1e3, 6),
                "stream": stream,
                "annotator": annotator,
                **body,
            },
        }

    out = []
    spotted = {t: {(a, z): v for a, z, v in tiers.get(t, [])} for t in SPOTTED}
    for a, z in sorted(spotted["spotted-kind"]):
        kind = spotted["spotted-kind"][(a, z)]
        aus, emotion = spotted["spotted-AUs"].get((a, z), ""), spotted["spotted-emotion"].get((a, z), "")
        out.append(record(a, z, _me_body(kind, aus, emotion, "spotted-kind")))
    for name, anns in tiers.items():
        if name in SPOTTED:
            continue
        for a, z, v in anns:
            if name in NOTE_TIERS:
                out.append(record(a, z, {"type": "note", "tier": name, "value": v}))
            else:  # a coder's own tier: the value names the AUs, and maybe the kind and emotion
                words = v.lower().split()
                kind = next((k for k in KINDS if k in words), "micro")
                emotion = next((w for w in v.replace("+", " ").split() if w.istitle() and not AU_RE.match(w)), "")
                out.append(record(a, z, _me_body(kind, v, emotion, name)))
    return out


def _me_body(kind: str, aus: str, emotion: str, tier: str) -> dict:
    return {
        "type": "annotation",
        "kind": kind or "micro",
        "aus": [int(n) for n in AU_RE.findall(aus)],
        "emotions": [emotion] if emotion else [],
        "emotion": emotion,
        "tier": tier,
        "value": " ".join(x for x in (kind, aus, emotion) if x),
    }


def import_eaf(session: str | Path, path: str | Path, frontal: str | None = None) -> tuple[Path, list[dict]]:
    """Write the labels to <session>/labels/elan-<file>.jsonl (replacing an earlier import of it)."""
    reader = SessionReader(session)
    labels = labels_from_eaf(reader, path, frontal)
    folder = reader.root / "labels"
    folder.mkdir(exist_ok=True)
    out = folder / f"elan-{Path(path).stem}.jsonl"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in labels), encoding="utf-8")
    tmp.replace(out)
    write_json_atomic(folder / f"elan-{Path(path).stem}.source.json", {"eaf": str(Path(path).resolve())})
    return out, labels


def read_labels(session: str | Path) -> list[dict]:
    """Every imported label record of the session (labels/*.jsonl)."""
    out = []
    for p in sorted((Path(session) / "labels").glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out
