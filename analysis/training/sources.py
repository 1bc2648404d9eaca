"""Where a training or evaluation run gets its clips: a dataset's label book and clip folders,
a mestudio session, or the generated synthetic set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mestudio.analysis.datasets.clips import read_clip
from mestudio.analysis.datasets.errors import ClipNotFoundError, LabelBookError
from mestudio.analysis.datasets.readers import read_label_book
from mestudio.analysis.datasets.samples import LabelBook
from mestudio.analysis.datasets.sessions import intervals_from_events, session_clips
from mestudio.analysis.datasets.synthetic import synthetic_dataset
from mestudio.analysis.fourd.errors import MeshError

DATASETS = ("synthetic", "synthetic4d", "casme2", "samm", "4dme", "4dme4d", "megc", "session")


@dataclass
class Source:
    dataset: str = "synthetic"
    labels: str | None = None  # label book (datasets)
    clips: str | None = None  # folder holding the subjects' clip folders
    session: str | None = None  # a mestudio session folder
    stream: str | None = None  # its video stream
    event_types: tuple[str, ...] = ("spot", "annotation")
    subjects: int = 10  # synthetic
    per_subject: int = 8
    size: int = 64
    seed: int = 0
    skip_missing: bool = False
    frames: int | None = None  # synthetic4d: frames per clip (default 12)

    def describe(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def load_source(src: Source) -> tuple[LabelBook, list[np.ndarray], list[str]]:
    """The label book, its clips (T, H, W) uint8 in the same order, and the clips skipped
    (with --skip-missing; reported by the CLI, never dropped silently)."""
    if src.dataset not in DATASETS:
        raise LabelBookError(f"unknown dataset {src.dataset!r}; use one of {', '.join(DATASETS)}")
    if src.dataset == "synthetic":
        return (*synthetic_dataset(src.subjects, src.per_subject, src.size, src.seed), [])
    if src.dataset == "synthetic4d":  # clips are 4D views (3 profiles, 3 domains, T, S, S)
        from mestudio.analysis.datasets.synthetic4d import synthetic4d_dataset

        return (*synthetic4d_dataset(src.subjects, src.per_subject, src.size, src.seed, src.frames or 12), [])
    if src.dataset == "session":
        if not src.session or not src.stream:
            raise LabelBookError("--dataset session needs --session FOLDER and --stream ID")
        from mestudio.stream.session_reader import SessionReader

        ivs = intervals_from_events(SessionReader(src.session).events(), src.event_types)
        if not ivs:
            raise LabelBookError(
                f"{src.session}: no events of type {list(src.event_types)} with "
                f"onset_s/offset_s; annotate or spot the session first"
            )
        return (*session_clips(src.session, src.stream, ivs), [])
    if not src.labels or not src.clips:
        raise LabelBookError(f"--dataset {src.dataset} needs --labels FILE and --clips FOLDER")
    book = read_label_book(src.labels, "4dme" if src.dataset == "4dme4d" else src.dataset)
    kept, clips, missing = [], [], []
    for s in book:
        root = Path(src.clips) / s.dataset if src.dataset == "megc" else Path(src.clips)
        try:
            if src.dataset == "4dme4d":  # mesh sequences (or rendered views) per clip
                from mestudio.analysis.datasets.mesh_clips import read_mesh_clip

                clips.append(read_mesh_clip(root, s, src.size))
            else:
                clips.append(read_clip(root, s))
            kept.append(s)
        except (ClipNotFoundError, MeshError) as e:
            if not src.skip_missing:
                raise
            missing.append(str(e))
    if not kept:
        raise ClipNotFoundError(f"none of the {len(book)} clips of {src.labels} found under {src.clips}")
    return LabelBook(kept, book.source), clips, missing
