"""The merge's outputs, beside the annotators' files:

    <labels>/consensus.json              every consensus clip with each annotator's frames, the
                                         minority groups, the agreement report
    <labels>/consensus/clips/labelbook.csv   the 4DME-style label book (Subject, Clip, Onset, Apex,
                                         Offset, AUs, Emotion, Type), read by FourDMEReader, so by
                                         `mestudio train/evaluate --dataset 4dme`
    <labels>/consensus/clips/<subject>/<clip>/img<frame>.png   a session's clips, cut by the clip
                                         export (the layout of `mestudio export --what clips`)
    <labels>/consensus/agreement.png     per-AU kappa and the onset/offset differences
    <labels>/consensus/<session>.eaf     (--elan) the ELAN file of the consensus, by interop's writer

Static clips (over 4 s) stay in consensus.json and out of the book, as the study left them out.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from mestudio.annotate.labels import CONSENSUS, au_text, read_annotators
from mestudio.annotate.media import SessionSource, Source, position_of, time_of
from mestudio.annotate.merge import Consensus, ConsensusClip, merge
from mestudio.annotate.rules import emotion_of, kind_of
from mestudio.stream.session import write_json_atomic


def book_emotions(clip: ConsensusClip) -> list[str]:
    return [] if clip.emotion == "None" else clip.emotion.split("+")


def consensus_intervals(clips: list[ConsensusClip]) -> list[dict]:
    """The book's clips as the clip export's intervals (frame sequence numbers of the stream)."""
    return [
        {
            "onset_seq": c.onset,
            "apex_seq": c.apex,
            "offset_seq": c.offset,
            "aus": au_text(c.aus),
            "emotions": book_emotions(c),
            "kind": c.kind,
        }
        for c in clips
        if c.kind != "static"
    ]


def _write_book(path: Path, subject: str, clips: list[ConsensusClip]) -> None:
    from mestudio.analysis.datasets.export import COLUMNS

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for c in clips:
            if c.kind == "static":
                continue
            w.writerow(
                {
                    "Subject": subject,
                    "Clip": c.name,
                    "Onset": c.onset,
                    "Apex": "" if c.apex is None else c.apex,
                    "Offset": c.offset,
                    "AUs": au_text(c.aus),
                    "Emotion": "+".join(book_emotions(c)),
                    "Type": c.kind,
                }
            )
    tmp.replace(path)


def plot_agreement(rep: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    names = list(rep["aus"])
    fleiss = [rep["aus"][a]["fleiss"] for a in names]
    cohen = [rep["aus"][a]["cohen_mean"] for a in names]
    x = range(len(names))
    ax1.bar([i - 0.2 for i in x], [v if v is not None else 0 for v in fleiss], 0.4, label="Fleiss")
    ax1.bar([i + 0.2 for i in x], [v if v is not None else 0 for v in cohen], 0.4, label="Cohen (mean of pairs)")
    ax1.set_xticks(list(x), names, rotation=45)
    ax1.set_ylim(-1, 1)
    ax1.axhline(0, color="gray", lw=0.5)
    ax1.set_title("per-AU kappa")
    ax1.legend(fontsize=8)
    for phase in ("onset", "apex", "offset"):
        d = rep["frames"][phase]["frames"]
        ax2.bar(phase, d.get("mean") or 0, yerr=[[0], [max(0, (d.get("max") or 0) - (d.get("mean") or 0))]])
    ax2.set_ylabel("frames (mean, bar to max)")
    ax2.set_title("annotators' frame differences")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def merge_labels(source: Source, min_iou: float = 0.3, annotators: list[str] | None = None) -> Consensus:
    """The consensus of every annotator's labels file of ``source`` (or only of ``annotators``)."""
    from mestudio.annotate.errors import MergeError

    found = read_annotators(source.labels_dir)
    if annotators:
        missing = sorted(set(annotators) - set(found))
        if missing:
            raise MergeError(
                f"{source.labels_dir}: no labels of {', '.join(missing)} (found: {', '.join(found) or 'none'})"
            )
        found = {a: found[a] for a in annotators}
    bad = []
    for name, (src, labels) in found.items():
        if src.get("stream") not in (None, source.stream_id):
            raise MergeError(
                f"{source.labels_dir}/{name}.json: labels of stream {src.get('stream')!r}, not {source.stream_id!r}; "
                "merge with --stream"
            )
        bad += labels.bad_changes
    return merge({a: list(lab.clips.values()) for a, (_, lab) in found.items()}, source, min_iou, bad)


def write_outputs(source: Source, consensus: Consensus, report: dict[str, Any], plot: bool = True) -> dict[str, str]:
    """Write consensus.json, the label book (and a session's clips) and the plot; returns what was written."""
    folder = source.labels_dir / CONSENSUS
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    doc = {
        "format": "mestudio-consensus",
        "source": source.describe(),
        "annotators": consensus.annotators,
        "clips": [c.to_json() for c in consensus.clips],
        "minority": [{a: c.id for a, c in g.members.items()} for g in consensus.minority],
        "bad_changes": consensus.bad_changes,
        "agreement": report,
    }
    write_json_atomic(source.labels_dir / f"{CONSENSUS}.json", doc)
    written["consensus"] = str(source.labels_dir / f"{CONSENSUS}.json")
    book = folder / "clips" / "labelbook.csv"
    if book.parent.is_dir():  # derived from the labels: an earlier merge's clips go
        shutil.rmtree(book.parent)
    intervals = consensus_intervals(consensus.clips)
    if isinstance(source, SessionSource) and intervals:
        from mestudio.analysis.datasets.export import export_spotted_clips

        _, n = export_spotted_clips(source.path, book.parent, source.stream_id, source.subject, intervals)
        written["clips"] = f"{n} clips under {book.parent}"
    else:
        _write_book(book, source.subject, consensus.clips)
    written["label_book"] = str(book)
    if plot and report.get("aus") is not None:
        written["plot"] = str(plot_agreement(report, folder / "agreement.png"))
    return written


def elan_value(kind: str, aus: tuple, emotion: str) -> str:
    """``micro AU1B+AU2B+AU12A(R)+AU14(k) Positive+Surprise`` (side in brackets): what interop's ELAN
    import reads back."""
    codes = "+".join(
        f"AU{a.number}{a.intensity}{'(k)' if a.static else ''}{f'({a.side})' if a.side else ''}" for a in aus
    )
    return " ".join(x for x in (kind, codes, "" if emotion == "None" else emotion) if x)


def export_elan(source: SessionSource, consensus: Consensus) -> list[str]:
    """The consensus as an ELAN file over the frontal video: interop's writer (its ``clips`` tier
    reads the label book in the clips folder beside the .eaf, labels/consensus/clips/labelbook.csv),
    plus a ``consensus`` tier and one tier per annotator, so disagreements show in ELAN and a
    coder's corrections come back with `mestudio import-annotations`."""
    import numpy as np
    import pympi

    from mestudio.interop.elan import video_start_ns
    from mestudio.interop.export import export_interop

    written = export_interop(source.reader, source.labels_dir / CONSENSUS, ["elan"], source.stream_id)["elan"]
    path = written[0]
    host, period = source.host_ns, int(np.median(np.diff(source.host_ns))) if len(source) > 1 else 0
    zero = source.t0_ns + video_start_ns(source.reader, source.stream_id)

    def span(onset: int, offset: int) -> tuple[int, int]:  # from the onset frame to the end of the offset frame
        a = host[position_of(source, onset)]
        z = host[position_of(source, offset)] + period
        return int(round((a - zero) / 1e6)), int(round((z - zero) / 1e6))

    eaf = pympi.Elan.Eaf(path)
    tiers: dict[str, list[tuple[int, int, str]]] = {"consensus": []}
    for c in consensus.clips:
        tiers["consensus"].append((*span(c.onset, c.offset), elan_value(c.kind, c.aus, c.emotion)))
    for name in consensus.annotators:
        tiers[f"annotator-{name}"] = []
    for g in consensus.groups:
        for name, clip in g.members.items():
            dur = time_of(source, clip.offset) - time_of(source, clip.onset)
            value = elan_value(kind_of(dur), clip.aus, emotion_of(clip))
            tiers[f"annotator-{name}"].append((*span(clip.onset, clip.offset), value))
    for tier, anns in tiers.items():
        eaf.add_tier(tier)
        for a, z, v in sorted(anns):
            if z > a >= 0:
                eaf.add_annotation(tier, a, z, v)
    eaf.to_file(path)
    return [path, *(f"tier {t}: {len(a)} annotations" for t, a in tiers.items()), *written[1:]]


def saved_intervals(session: str | Path, stream: str) -> list[dict] | None:
    """The consensus a merge saved in ``session`` as the clip export's intervals (None: no
    consensus of that stream there).  A garbled consensus.json is a MergeError naming it."""
    from mestudio.annotate.errors import MergeError

    path = Path(session) / "labels" / f"{CONSENSUS}.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("source", {}).get("stream") != stream:
            return None
        return [
            {
                "onset_seq": int(c["onset"]),
                "apex_seq": None if c.get("apex") is None else int(c["apex"]),
                "offset_seq": int(c["offset"]),
                "aus": str(c.get("aus", "")),
                "emotions": [] if c.get("emotion") in (None, "None") else str(c["emotion"]).split("+"),
                "kind": str(c["kind"]),
            }
            for c in doc["clips"]
            if c.get("kind") != "static"
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise MergeError(
            f"{path}: not a consensus file ({type(e).__name__}: {e}); run `mestudio labels merge` again"
        ) from None
