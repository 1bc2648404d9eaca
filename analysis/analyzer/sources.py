"""What `mestudio analyze INPUT` reads: a session folder, a video file, or an image-sequence folder.

Every source yields (seq, t, frame) in order, frames as 8-bit grayscale (what the face camera
records, so a lab's video goes through the same code as a live session):

* **video file**: anything FFmpeg reads (PyAV); its own frame rate and each frame's own
  presentation time, from 0 at the first frame (a variable-rate file keeps its times).  Frames
  are turned upright by the file's display rotation (a phone's portrait video is stored on its
  side), as ffmpeg and players show them.
* **image sequence**: the images of one folder in name order, numbers compared as numbers
  (CASME II's img46.jpg < img100.jpg).  The frame rate comes from the layout when it is one of
  the ME datasets' (CASME II and SAMM: 200 fps; CAS(ME)^2 raw pictures: 30 fps), else ``--fps``.
* **session folder**: analysis/analyzer/offline.py, as before.

A damaged frame (an image OpenCV cannot read, a video packet FFmpeg cannot decode) does not end
the run: it is yielded as ``None`` in its place (the analyzer writes it as a frame without a face
and restarts its windows there, as at a recording gap), counted, and named in ``notes``.  A video
that ends early (a truncated file, a demuxer error) keeps what was decoded and says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from mestudio.analysis.analyzer.errors import InputError

NAMED_MAX = 5  # damaged frames named one by one in the notes; the rest are counted
IMAGE_EXT = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm"})
# (dataset, frame rate, test on (folder, parent folder, first image name))
LAYOUTS: tuple[tuple[str, float, Callable[[str, str, str], object]], ...] = (
    ("CASME II", 200.0, lambda d, p, f: re.fullmatch(r"sub\d+", p) and re.fullmatch(r"img\d+", f)),
    ("SAMM", 200.0, lambda d, p, f: re.fullmatch(r"\d{3}", p) and re.fullmatch(r"\d{3}_\d+", f)),
    ("CAS(ME)^2", 30.0, lambda d, p, f: re.fullmatch(r"s\d+", p) and re.fullmatch(r"img\d+", f)),
)


def first_named(items: list[str], sep: str = ", ") -> str:
    """The first NAMED_MAX of ``items`` for a note, "..." for the rest."""
    return sep.join(items[:NAMED_MAX]) + (f"{sep}..." if len(items) > NAMED_MAX else "")


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


class To8Bit:
    """A scientific camera's 10-16-bit pictures (usually 12 bits in a 16-bit file) as 8 bits, by
    one shift for the whole clip, set by the first picture's brightest value: OpenCV's and
    FFmpeg's own conversions keep the top 8 of 16 bits, and a 12-bit face comes out black (0-15)."""

    def __init__(self) -> None:
        self.shift: int | None = None  # None: no 16-bit picture seen
        self.peak = 0  # the first 16-bit picture's brightest value, which set the shift

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if img.dtype == np.uint8:
            return img
        if img.dtype != np.uint16:  # float pictures: 0-1 or 0-255
            top = 255.0 if float(img.max()) <= 1.0 else 1.0
            return np.clip(img.astype(np.float32) * top, 0, 255).astype(np.uint8)
        if self.shift is None:
            self.peak = int(img.max())
            self.shift = max(0, self.peak.bit_length() - 8)
        return np.minimum(img >> self.shift, 255).astype(np.uint8)

    def notes(self, path: Path) -> list[str]:
        if self.shift is None:
            return []
        return [
            f"{path}: 16-bit pictures (the first's brightest value {self.peak}, {self.peak.bit_length()} bits) "
            f"read as 8 bits, shifted down by {self.shift}"
        ]


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
        self.unreadable: list[str] = []
        self.depth = To8Bit()

    def frames(self) -> Iterator[tuple[int, float, np.ndarray | None]]:
        self.unreadable, self.depth = [], To8Bit()
        for i, f in enumerate(self.files):
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
            if img is None:
                self.unreadable.append(f.name)
            yield i, i / self.fps, None if img is None else self.depth(img)

    def notes(self) -> list[str]:
        out = self.depth.notes(self.path)
        if self.unreadable:
            out.append(
                f"{self.path}: {len(self.unreadable)} of {self.count} images not readable by OpenCV "
                f"({first_named(self.unreadable)}): "
                "written as frames without a face"
            )
        return out

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
        moving = [v for v in self._c.streams.video if not _is_cover(v)]
        if not moving:
            self._c.close()
            cover = " (only a cover picture)" if self._c.streams.video else ""
            raise InputError(f"{self.path}: has no video stream{cover}")
        best = self._c.streams.best("video")  # FFmpeg's choice: a cover picture first in the file is not it
        self._s = best if best in moving else moving[0]
        rate = self._s.average_rate or self._s.guessed_rate
        self.fps = float(fps or (rate if rate else 0) or 30.0)
        self.count = int(self._s.frames) or None
        self._fixed = fps is not None  # --fps given: times from the frame index at that rate
        self.layout = None
        self.rotation = 0  # degrees counter-clockwise the frames were turned to stand upright
        self.decoded = 0
        self.undecodable: list[str] = []  # "frame N (time s): FFmpeg's error" per packet that failed
        self.stopped: str | None = None  # why reading ended before the end of the file
        self.depth = To8Bit()

    def first_time(self) -> float | None:
        """Presentation time (s) of the first video frame: the frames' t = 0 (None: --fps given)."""
        if self._fixed:
            return None
        import av

        with av.open(str(self.path)) as c:
            try:
                for packet in c.demux(c.streams[self._s.index]):
                    try:
                        for f in packet.decode():
                            return getattr(f, "time", None)
                    except av.FFmpegError:
                        continue  # a damaged first packet: the first frame that decodes is t = 0
            except av.FFmpegError:
                pass
        return None

    def frames(self) -> Iterator[tuple[int, float, np.ndarray | None]]:
        import av

        t0: float | None = None
        i = 0
        self.decoded, self.undecodable, self.stopped, self.depth = 0, [], None, To8Bit()

        def time_of(t: float | None, decoded: bool = True) -> float:
            nonlocal t0
            if self._fixed or t is None or (t0 is None and not decoded):
                return i / self.fps  # t = 0 is the first decoded frame's time, as first_time() says
            t0 = t if t0 is None else t0
            return t - t0

        packets = self._c.demux(self._s)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as e:  # the container itself is damaged from here on
                self.stopped = f"reading stopped after {i} frames ({e})"
                break
            try:
                decoded = packet.decode()
            except av.FFmpegError as e:  # one damaged packet: its frame is missing, not the rest
                if packet.size:
                    t = packet.pts * packet.time_base if packet.pts is not None and packet.time_base else None
                    at = time_of(float(t) if t is not None else None, decoded=False)
                    self.undecodable.append(f"frame {i + 1} ({at:.3f} s): {e}")
                    yield i, float(at), None
                    i += 1
                continue
            for f in decoded:
                self.rotation = int(round((getattr(f, "rotation", 0) or 0) / 90)) * 90 % 360
                wide = f.format.name in ("gray16le", "gray16be")  # a camera's 10-14 bits in 16
                img: np.ndarray = self.depth(f.to_ndarray()) if wide else f.to_ndarray(format="gray")
                if self.rotation:  # as ffmpeg and players show it (np.rot90 turns counter-clockwise)
                    img = np.ascontiguousarray(np.rot90(img, self.rotation // 90))
                self.decoded += 1
                yield i, float(time_of(f.time)), img
                i += 1

    def notes(self) -> list[str]:
        out = self.depth.notes(self.path)
        if self.rotation:
            turn = {90: "90 degrees counter-clockwise", 180: "180 degrees", 270: "90 degrees clockwise"}[self.rotation]
            out.append(f"{self.path}: frames turned {turn} to stand upright (the file's display rotation)")
        if self.undecodable:
            out.append(
                f"{self.path}: {len(self.undecodable)} video packets FFmpeg could not decode, written as frames "
                f"without a face ({first_named(self.undecodable, '; ')})"
            )
        if self.stopped:
            out.append(f"{self.path}: {self.stopped}; the frames before are analysed")
        elif self.count and self.decoded + len(self.undecodable) < self.count:
            out.append(
                f"{self.path}: ended after {self.decoded + len(self.undecodable)} of the {self.count} frames its "
                "header announces (a truncated file?); the frames before are analysed"
            )
        return out

    def close(self) -> None:
        self._c.close()

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_cover(stream) -> bool:
    """A video stream that is a file's cover picture (MP4 artwork), not its pictures."""
    import av

    return bool(stream.disposition & av.stream.Disposition.attached_pic)


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
