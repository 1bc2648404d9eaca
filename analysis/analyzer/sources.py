"""What `mestudio analyze INPUT` reads: a session folder, a video file, or an image-sequence folder.

Every source yields (seq, t, frame) in order, frames as 8-bit grayscale (what the face camera
records, so a lab's video goes through the same code as a live session):

* **video file**: anything FFmpeg reads (PyAV); its own frame rate and each frame's own
  presentation time, from 0 at the first frame (a variable-rate file keeps its times).
* **image sequence**: the images of one folder in name order, numbers compared as numbers
  (CASME II's img46.jpg < img100.jpg).  The frame rate comes from the layout when it is one of
  the ME datasets' (CASME II and SAMM: 200 fps; CAS(ME)^2 raw pictures: 30 fps), else ``--fps``.
* **session folder**: analysis/analyzer/offline.py, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from mestudio.analysis.analyzer.errors import InputError

IMAGE_EXT = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm"})
# (dataset, frame rate, test on (folder, parent folder, first image name))
LAYOUTS: tuple[tuple[str, float, Callable[[str, str, str], object]], ...] = (
    ("CASME II", 200.0, lambda d, p, f: re.fullmatch(r"sub\d+", p) and re.fullmatch(r"img\d+", f)),
    ("SAMM", 200.0, lambda d, p, f: re.fullmatch(r"\d{3}", p) and re.fullmatch(r"\d{3}_\d+", f)),
    ("CAS(ME)^2", 30.0, lambda d, p, f: re.fullmatch(r"s\d+", p) and re.fullmatch(r"img\d+", f)),
)


def natural_key(name: str) -> list:
    """Sort key comparing runs of digits as numbers: img9 < img10."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def image_files(folder: Path) -> list[Path]:
    images = (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXT and p.is_file())
    return sorted(images, key=lambda p: natural_key(p.name))


def dataset_layout(folder: Path, first: Path) -> tuple[str, float] | None:
    """(dataset, fps) when the folder is laid out as one of the ME datasets, else None."""
    for name, fps, test in LAYOUTS:
        if test(folder.name, folder.parent.name, first.stem):
            return name, fps
    return None


class ImageSequence:
    """One clip as a folder of images; use as a context manager."""

    kind = "images"

    def __init__(self, folder: str | Path, fps: float | None = None) -> None:
        self.path = Path(folder)
        self.files = image_files(self.path)
        if not self.files:
            raise InputError(
                f"{self.path}: no images ({', '.join(sorted(IMAGE_EXT))}) in this folder, and no manifest.json "
                "(not a session folder either)"
            )
        layout = dataset_layout(self.path, self.files[0])
        self.layout = layout[0] if layout else None
        if fps:
            self.fps = float(fps)
        elif layout is not None:
            self.fps = layout[1]
        else:
            raise InputError(
                f"{self.path}: an image folder of no known dataset layout (CASME II, SAMM, CAS(ME)^2) "
                "has no frame rate; give it with --fps"
            )
        self.count = len(self.files)

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        for i, f in enumerate(self.files):
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise InputError(f"{f}: not an image OpenCV can read")
            yield i, i / self.fps, img

    def __enter__(self) -> ImageSequence:
        return self

    def __exit__(self, *exc) -> None:
        pass


class VideoFile:
    """One video file through FFmpeg (PyAV): its own rate and per-frame times."""

    kind = "video"

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        import av

        self.path = Path(path)
        try:
            self._c = av.open(str(self.path))
        except (av.FFmpegError, OSError) as e:
            raise InputError(f"{self.path}: not a video FFmpeg can read ({e})") from e
        if not self._c.streams.video:
            self._c.close()
            raise InputError(f"{self.path}: has no video stream")
        self._s = self._c.streams.video[0]
        rate = self._s.average_rate or self._s.guessed_rate
        self.fps = float(fps or (rate if rate else 0) or 30.0)
        self.count = int(self._s.frames) or None
        self._fixed = fps is not None  # --fps given: times from the frame index at that rate
        self.layout = None

    def first_time(self) -> float | None:
        """Presentation time (s) of the first video frame: the frames' t = 0 (None: --fps given)."""
        if self._fixed:
            return None
        import av

        with av.open(str(self.path)) as c:
            for f in c.decode(video=0):
                return f.time
        return None

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        import av

        t0 = None
        try:
            for i, f in enumerate(self._c.decode(self._s)):
                t = f.time
                if self._fixed or t is None:
                    t = i / self.fps
                else:
                    t0 = t if t0 is None else t0
                    t = t - t0
                yield i, float(t), f.to_ndarray(format="gray")
        except av.FFmpegError as e:
            raise InputError(f"{self.path}: decoding stopped ({e})") from e

    def close(self) -> None:
        self._c.close()

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_input(path: str | Path, fps: float | None = None) -> ImageSequence | VideoFile:
    """A video file or an image folder (a session folder is the caller's: is_session)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_dir():
        return ImageSequence(p, fps)
    return VideoFile(p, fps)


def is_session(path: str | Path) -> bool:
    return (Path(path) / "manifest.json").is_file()
