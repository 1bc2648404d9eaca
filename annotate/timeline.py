"""What the timeline shows under the video, from a session's events.jsonl (plain Python, no Qt).

Read by their documented fields (docs/analyzer.md, docs/session-folder.md): the analyzer's
``trace`` messages (spotting score, per-frame AUs), its ``event`` messages (the candidate events an
annotator accepts, adjusts or rejects), the protocol's markers (clips and breaks) and the
operator's marks.  Everything is placed at frame positions of the annotated stream; a message that
cannot be read is counted, never fatal.  A video file or an image folder has no timeline data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mestudio.annotate.media import SessionSource, Source

TRACE_AUS = ("AU01", "AU02", "AU04", "AU06", "AU07", "AU12", "AU17", "AU45")  # the study's eight (Table 5)
CANDIDATE_KINDS = ("micro", "macro")


@dataclass(frozen=True)
class Candidate:
    """One spotted event, in frame numbers of the annotated stream."""

    index: int
    kind: str
    onset: int
    apex: int | None
    offset: int
    aus: tuple[int, ...]
    emotion: str


@dataclass
class Timeline:
    score_pos: np.ndarray = field(default_factory=lambda: np.zeros(0))
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    threshold: float | None = None
    au_pos: np.ndarray = field(default_factory=lambda: np.zeros(0))
    au: dict[str, np.ndarray] = field(default_factory=dict)  # AU01.. -> per-frame intensity (0-5)
    candidates: list[Candidate] = field(default_factory=list)
    phases: list[tuple[int, int, str]] = field(default_factory=list)  # (first, last position, "clip c01")
    marks: list[tuple[int, str]] = field(default_factory=list)  # (position, text)
    unreadable: int = 0


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def build_timeline(source: Source) -> Timeline:
    tl = Timeline()
    if not isinstance(source, SessionSource):
        return tl
    host = source.host_ns
    seqs = source.numbers
    last = len(host) - 1

    def pos_host(ns: float) -> int:
        return int(np.clip(np.searchsorted(host, ns), 0, last))

    def pos_seq(seq: float) -> int:
        return int(np.clip(np.searchsorted(seqs, seq), 0, last))

    analyzed = ""  # the stream the analyzer followed (its "start" message)
    score: dict[int, float] = {}
    au: dict[str, dict[int, float]] = {a: {} for a in TRACE_AUS}
    open_at: dict[str, tuple[int, str]] = {}
    for e in source.reader.events():
        topic = str(e.get("topic", ""))
        body = e.get("body") if isinstance(e.get("body"), dict) else {}
        assert isinstance(body, dict)
        try:
            if topic.startswith("results/"):
                kind = body.get("type")
                own = not analyzed or analyzed == source.stream_id  # seq numbers are of our stream
                if kind == "start":
                    analyzed = str(body.get("stream") or "")
                elif kind == "trace":
                    ts, ss = body.get("t") or [], body.get("score") or []
                    sq = body.get("seq") or []
                    for k, (tt, sc) in enumerate(zip(ts, ss)):
                        if _num(sc) is not None:
                            p = pos_seq(sq[k]) if own and k < len(sq) else pos_host(float(tt) * 1e9)
                            score[p] = float(sc)
                    thr = _num(body.get("threshold"))
                    tl.threshold = thr if thr is not None else tl.threshold
                    frames = body.get("au")
                    if isinstance(frames, dict):
                        fsq, ft = frames.get("seq") or [], frames.get("t") or []
                        for name in TRACE_AUS:
                            for k, v in enumerate(frames.get(name) or []):
                                if _num(v) is None:
                                    continue
                                if own and k < len(fsq):
                                    au[name][pos_seq(fsq[k])] = float(v)
                                elif k < len(ft):
                                    au[name][pos_host(float(ft[k]) * 1e9)] = float(v)
                elif kind == "event" and body.get("kind") in CANDIDATE_KINDS:
                    tl.candidates.append(_candidate(len(tl.candidates), body, own, seqs, pos_host))
            elif topic == "markers/elicit" and isinstance(e.get("host_time_ns"), int):
                ev = body.get("event")
                what = {"clip_onset": "clip", "clip_offset": "clip", "break_start": "break", "break_end": "break"}
                if ev in ("clip_onset", "break_start"):
                    open_at[what[ev]] = (pos_host(e["host_time_ns"]), str(body.get("clip", "")))
                elif ev in ("clip_offset", "break_end") and what[ev] in open_at:
                    a, name = open_at.pop(what[ev])
                    tl.phases.append((a, pos_host(e["host_time_ns"]), f"{what[ev]} {name}".strip()))
            elif topic == "command/mark" and isinstance(e.get("host_time_ns"), int):
                tl.marks.append((pos_host(e["host_time_ns"]), str(body.get("text") or body.get("label") or "mark")))
        except (TypeError, ValueError, KeyError, IndexError):
            tl.unreadable += 1
    if score:
        tl.score_pos = np.asarray(sorted(score), np.int64)
        tl.score = np.asarray([score[p] for p in tl.score_pos], np.float64)
    frames_with_au = sorted(set().union(*(set(v) for v in au.values())))
    if frames_with_au:
        tl.au_pos = np.asarray(frames_with_au, np.int64)
        tl.au = {a: np.asarray([v.get(p, np.nan) for p in frames_with_au]) for a, v in au.items() if v}
    return tl


def _candidate(index: int, body: dict, own: bool, seqs: np.ndarray, pos_host) -> Candidate:
    if own and "onset_seq" in body and "offset_seq" in body:
        on, off = int(body["onset_seq"]), int(body["offset_seq"])
        apex = int(body["apex_seq"]) if body.get("apex_seq") is not None else None
    else:  # another stream's event: its host times, onto our frames
        on = int(seqs[pos_host(float(body["onset_s"]) * 1e9)])
        off = int(seqs[pos_host(float(body["offset_s"]) * 1e9)])
        apex = int(seqs[pos_host(float(body["apex_s"]) * 1e9)]) if body.get("apex_s") is not None else None
    aus = tuple(
        int(str(a.get("au") if isinstance(a, dict) else a).upper().removeprefix("AU")) for a in body.get("aus") or []
    )
    if off < on:
        raise ValueError("offset before onset")
    return Candidate(index, str(body.get("kind")), on, apex, off, aus, str(body.get("emotion") or ""))


def add_analyzer_csvs(
    tl: Timeline, source: Source, events_csv: str | None = None, au_csv: str | None = None
) -> Timeline:
    """The results of `mestudio analyze INPUT --events-csv E --au-csv A` on the timeline: what a
    video file or an image folder has instead of a session's events (frames there are 1-based
    positions, as the analyzer writes them).  A file that is not such a table is a SourceError."""
    import csv

    from mestudio.annotate.errors import SourceError

    last = len(source) - 1

    def number(frame: str) -> int:
        return int(source.numbers[int(np.clip(int(float(frame)) - 1, 0, last))])

    def rows(path: str, need: tuple[str, ...]) -> list[dict]:
        try:
            with open(path, newline="", encoding="utf-8") as f:
                out = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise SourceError(f"{path}: cannot read ({e})") from None
        missing = [c for c in need if out and c not in out[0]]
        if not out or missing:
            raise SourceError(f"{path}: not the analyzer's CSV (missing columns {missing or list(need)})")
        return out

    if events_csv:
        for r in rows(events_csv, ("kind", "onset_frame", "offset_frame", "aus")):
            if r["kind"] not in CANDIDATE_KINDS:
                continue
            try:
                on, off = number(r["onset_frame"]), number(r["offset_frame"])
                apex = number(r["apex_frame"]) if r.get("apex_frame") else None
                aus = tuple(int(a) for a in str(r["aus"]).split("+") if a.strip())
            except ValueError:
                tl.unreadable += 1
                continue
            tl.candidates.append(Candidate(len(tl.candidates), r["kind"], on, apex, off, aus, r.get("emotion") or ""))
    if au_csv:
        table = rows(au_csv, ("frame",))
        pos: list[int] = []
        traces: dict[str, list[float]] = {a: [] for a in TRACE_AUS}
        for r in table:
            try:
                p = int(np.clip(int(float(r["frame"])) - 1, 0, last))
                vals = {a: float(r[f"{a}_r"]) if r.get(f"{a}_r") not in (None, "") else np.nan for a in TRACE_AUS}
            except ValueError:
                tl.unreadable += 1
                continue
            pos.append(p)
            for a, v in vals.items():
                traces[a].append(v)
        if pos:
            tl.au_pos = np.asarray(pos, np.int64)
            tl.au = {a: np.asarray(v) for a, v in traces.items() if not np.isnan(v).all()}
    return tl
