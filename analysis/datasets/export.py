"""A session's spotted expressions as an ME dataset: image-sequence clips and a 4DME label book.

    <out>/<participant>/<stream>_<k>/img<frame>.png   (frame = the stream's own frame number)
    <out>/labelbook.csv                                Subject, Clip, Onset, Apex, Offset, AUs,
                                                       Emotion, Type (FourDMEReader reads it)

so the clips go straight back into `mestudio train`/`evaluate` (`--dataset 4dme`) or to a
labeller's tools; the analyzer's intervals are a first pass for human coders to correct.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from mestudio.analysis.datasets.clips import write_clip
from mestudio.analysis.datasets.errors import ClipNotFoundError
from mestudio.analysis.datasets.sessions import intervals_from_events, session_clips

COLUMNS = ["Subject", "Clip", "Onset", "Apex", "Offset", "AUs", "Emotion", "Type"]


def export_spotted_clips(
    session_dir: str | Path,
    out: str | Path,
    stream_id: str,
    subject: str | None = None,
    intervals: Sequence[dict] | None = None,
) -> tuple[Path, int]:
    """Write the analyzer's micro/macro events of ``stream_id`` (or the given ``intervals``, e.g. the
    annotators' consensus, mestudio.annotate.book); returns (label book, clips)."""
    from mestudio.stream.session_reader import SessionReader

    reader = SessionReader(session_dir)
    if intervals is None:
        intervals = intervals_from_events(reader.events())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    book_path = out / "labelbook.csv"
    if not intervals:
        raise ClipNotFoundError(
            f"{session_dir}: no spotted or annotated intervals to export "
            "(run `mestudio analyze SESSION` first, or enable [analyzer])"
        )
    book, clips = session_clips(session_dir, stream_id, intervals, subject)
    seqs = reader.stream(stream_id).index["seq"]
    with open(book_path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for k, (s, frames) in enumerate(zip(book, clips), start=1):
            name = f"{stream_id}_{k:03d}"
            assert s.onset is not None  # session_clips gives every sample its onset
            first = int(seqs[s.onset])
            for i, frame in enumerate(frames):  # named by the stream's frame numbers, gaps and all
                write_clip(out / s.subject / name, frame[None], first=int(seqs[s.onset + i]))
            w.writerow(
                {
                    "Subject": s.subject,
                    "Clip": name,
                    "Onset": first,
                    "Apex": int(seqs[s.apex]) if s.apex is not None else "",
                    "Offset": int(seqs[s.offset]),
                    "AUs": "+".join(str(a) for a in s.aus),
                    "Emotion": "+".join(s.emotions),
                    "Type": s.kind,
                }
            )
    return book_path, len(book)
