"""Clip folders in the image-sequence layouts ME datasets use, read as (T, H, W) uint8 arrays.

    CASME II   <root>/sub01/EP02_01f/img46.jpg          (cropped release: reg_img46.jpg)
    SAMM       <root>/006/006_1_2/006_05562.jpg
    4DME, own  <root>/<subject>/<clip>/<anything><frame number>.(png|jpg|bmp)

The frame number is the last integer in the file name; a sample's onset..offset picks its frames
when the folder holds a longer run.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mestudio.analysis.datasets.errors import ClipNotFoundError
from mestudio.analysis.datasets.samples import Sample

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_LAST_INT = re.compile(r"(\d+)(?!.*\d)")


def frame_number(path: Path) -> int:
    m = _LAST_INT.search(path.stem)
    return int(m.group(1)) if m else -1


def frame_files(folder: Path) -> list[Path]:
    """Image files of one clip folder in frame-number order."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: (frame_number(p), p.name))


def clip_folder(root: str | Path, sample: Sample) -> Path:
    """Where ``sample``'s frames live under a dataset ``root`` (the layouts above)."""
    root = Path(root)
    subj = sample.subject
    stripped = subj.lstrip("0") or "0"
    candidates = [
        root / subj / sample.clip,
        root / f"sub{subj.zfill(2)}" / sample.clip,
        root / f"s{stripped}" / sample.clip,
        root / stripped / sample.clip,
        root / subj.zfill(3) / sample.clip,
        root / sample.clip,
    ]
    for c in candidates:
        if c.is_dir():
            return c
    raise ClipNotFoundError(
        f"{sample.key}: no clip folder under {root} (tried {candidates[0]}, "
        f"{candidates[1]} ...); point --clips at the folder holding the subjects"
    )


def read_clip(root: str | Path, sample: Sample, color: bool = False) -> np.ndarray:
    """Frames onset..offset of ``sample`` (all frames when the book gives none), (T, H, W[, 3])."""
    import cv2

    folder = clip_folder(root, sample)
    files = frame_files(folder)
    if sample.onset is not None and sample.offset is not None:
        inside = [f for f in files if sample.onset <= frame_number(f) <= sample.offset]
        files = inside or files  # clip folders already cut to the ME hold only its frames
    if not files:
        raise ClipNotFoundError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the clip folder")
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE
    frames = []
    for f in files:
        img = cv2.imread(str(f), flag)
        if img is None:
            raise ClipNotFoundError(f"{f}: unreadable image; re-export the clip")
        frames.append(img)
    shapes = {fr.shape for fr in frames}
    if len(shapes) != 1:
        raise ClipNotFoundError(f"{folder}: frames of different sizes {sorted(shapes)}; crop them alike")
    return np.stack(frames)


def write_clip(folder: str | Path, frames: np.ndarray, first: int = 1, pattern: str = "img{n}.png") -> list[Path]:
    """Write frames as an image sequence (CASME II naming by default); returns the files."""
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, fr in enumerate(frames):
        p = folder / pattern.format(n=first + i)
        if not cv2.imwrite(str(p), np.ascontiguousarray(fr)):
            raise OSError(f"{p}: could not write the image; check the folder is writable")
        out.append(p)
    return out
