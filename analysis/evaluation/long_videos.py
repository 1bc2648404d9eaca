"""The analyzer over a dataset's long videos, scored with the MEGC spotting protocol.

Ground truth: the LGSNet-layout CSVs (groundtruth.read_lgsnet_csv) of CAS(ME)^2, SAMM long
videos and CAS(ME)^3, whose ``video`` column is a path on the labeller's machine
("./CAS(ME)2_longVideoFaceCropped/longVideoFaceCropped/s15/15_0101disgustingteeth").  Each video is
found under ``--videos DIR`` by the end of that path: its last two parts, then its last one, as
a folder of images or as a video file of that name with any extension.  Frames are numbered as
the dataset numbers them: the number in each image's name where every name has one (CAS(ME)^2's
img1.jpg ...), else 1-based positions.  Each video is analysed from its first frame with a fresh
analyzer at the dataset's frame rate; spotted micro and macro intervals count (blinks and static
movements are not expressions), scored with IoU >= 0.5 per kind, pooled over videos (megc.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from mestudio.analysis.analyzer.errors import InputError
from mestudio.analysis.analyzer.offline import analyze_input
from mestudio.analysis.analyzer.sources import IMAGE_EXT, ImageSequence, VideoFile, image_files
from mestudio.analysis.evaluation.groundtruth import read_lgsnet_csv
from mestudio.analysis.evaluation.megc import KINDS, spotting_scores
from mestudio.analysis.settings import AnalyzerSettings

DATASET_FPS = {"casme2": 30.0, "samm": 200.0, "cas3": 30.0}
DATASET_NAMES = {"casme2": "CAS(ME)^2", "samm": "SAMM long videos", "cas3": "CAS(ME)^3"}
# published overall F1 for the same protocol, to print beside ours (MEGC 2020 MDMD baseline; LGSNet)
REFERENCE_F1 = {
    "casme2": {"MDMD baseline (MEGC 2020)": 0.038, "LGSNet": 0.46},
    "samm": {"MDMD baseline (MEGC 2020)": 0.045},
    "cas3": {},
}


def find_video(root: Path, label_path: str) -> Path | None:
    """The folder or file under ``root`` that the label book's ``video`` path names."""
    parts = [p for p in PurePosixPath(label_path.replace("\\", "/")).parts if p not in (".", "/")]
    for k in (2, 1):
        if len(parts) < k:
            continue
        cand = root.joinpath(*parts[-k:])
        if cand.is_dir() and image_files(cand):
            return cand
        if cand.parent.is_dir():
            files = sorted(f for f in cand.parent.glob(cand.name + ".*") if f.suffix.lower() not in IMAGE_EXT)
            if files:
                return files[0]
    return None


def frame_numbers(source) -> list[int]:
    """The dataset's number of each frame (image names' numbers, else 1-based positions)."""
    if isinstance(source, ImageSequence):
        nums = [re.findall(r"\d+", f.stem) for f in source.files]
        if all(nums):
            vals = [int(n[-1]) for n in nums]
            if len(set(vals)) == len(vals):
                return vals
        return list(range(1, len(source.files) + 1))
    return []


def _number(numbers: list[int], position: int) -> int:
    return numbers[position - 1] if numbers else position


def evaluate_long_videos(
    dataset: str,
    videos_dir: str | Path,
    labels: str | Path,
    settings: AnalyzerSettings | None = None,
    fps: float | None = None,
    limit: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Analyse every labelled video found under ``videos_dir``; MEGC scores and per-video lists."""
    if dataset not in DATASET_FPS:
        raise InputError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASET_FPS)}")
    root = Path(videos_dir)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder of videos")
    truth = read_lgsnet_csv(labels)
    settings = settings or AnalyzerSettings()
    rate = fps or DATASET_FPS[dataset]
    names = sorted(truth)
    found = [(n, find_video(root, n)) for n in names]
    missing = [n for n, p in found if p is None]
    todo = [(n, p) for n, p in found if p is not None][: limit or None]
    if not todo:
        raise InputError(
            f"{root}: none of the {len(names)} labelled videos is here (looked for e.g. "
            f"{'/'.join(PurePosixPath(names[0]).parts[-2:]) if names else '?'} as an image folder or a video file)"
        )
    pairs, per_video, failed = [], [], []
    for i, (name, path) in enumerate(todo):
        if progress is not None:
            progress(i, len(todo), name)
        try:
            with ImageSequence(path, rate) if path.is_dir() else VideoFile(path, rate) as src:
                rep = analyze_input(src, settings)
                numbers = frame_numbers(src)
        except InputError as e:  # one unreadable video must not cost the hours spent on the others
            failed.append({"video": name, "path": str(path), "error": str(e)})
            continue
        pred = [
            (_number(numbers, e["onset_frame"]), _number(numbers, e["offset_frame"]), e["kind"])
            for e in rep["events"]
            if e["kind"] in KINDS and e["onset_frame"] > 0
        ]
        gt = [(t.start, t.end, t.kind) for t in truth[name]]
        pairs.append((pred, gt))
        per_video.append(
            {
                "video": name,
                "path": str(path),
                "frames": rep["frames"],
                "frames_with_face": rep["frames_with_face"],
                "frames_damaged": rep["frames_damaged"],
                "notes": rep["notes"],
                "spotted": [list(p) for p in pred],
                "truth": [list(g) for g in gt],
                "wall_s": rep["wall_s"],
            }
        )
    return {
        "dataset": dataset,
        "dataset_name": DATASET_NAMES[dataset],
        "fps": rate,
        "method": settings.method,
        "protocol": "MEGC: IoU >= 0.5 with a ground-truth interval of the same kind, counts pooled over videos",
        "videos_labelled": len(names),
        "videos_analysed": len(per_video),
        "videos_missing": len(missing),
        "videos_failed": len(failed),  # found but not readable: not scored, like the missing ones
        "failed": failed,
        "scores": spotting_scores(pairs, inclusive=True),
        "reference_f1": REFERENCE_F1[dataset],
        "videos": per_video,
    }


def megc_table(r: dict) -> str:
    """The MEGC results table: one row per expression kind and overall (TP, FP, FN, P, R, F1)."""
    head = f"| Dataset | Expression | TP | FP | FN | Precision | Recall | F1-score |\n|{'---|' * 8}"
    rows = []
    for k, label in (("macro", "Macro-expression"), ("micro", "Micro-expression"), ("overall", "Overall")):
        s = r["scores"][k]
        rows.append(
            f"| {r['dataset_name']} | {label} | {s['tp']} | {s['fp']} | {s['fn']} | "
            f"{s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} |"
        )
    refs = "; ".join(f"{k} {v:.3f}" for k, v in r["reference_f1"].items())
    foot = f"\noverall F1 for reference on {r['dataset_name']}: {refs}" if refs else ""
    return head + "\n" + "\n".join(rows) + foot
