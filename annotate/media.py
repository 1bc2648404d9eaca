"""What the annotator looks at, frame by frame: a session's stream, a video file, an image folder.

Every source gives random access to frame ``i`` (its position, 0-based) with the frame's number
(what the labels and the label book write: a stream's sequence number, an image's own number, a
video's frame index) and its time in seconds; the labels of a video or an image folder are kept
beside it in ``<name>.labels/`` (never inside a dataset's folder), a session's in ``labels/``.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np

from mestudio.annotate.errors import SourceError

CACHE_FRAMES = 96  # decoded video frames kept: stepping back and forth never re-decodes


def _display(frame: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """8-bit gray or RGB for the screen (depth and other wide types are stretched to 0-255)."""
    f = np.asarray(frame)
    if f.ndim == 3 and f.shape[2] == 1:
        f = f[:, :, 0]
    if f.ndim == 3 and str(info.get("pixel_format", "")).lower().startswith("bgr"):
        f = f[:, :, ::-1]
    if f.dtype != np.uint8:
        lo, hi = float(f.min()), float(f.max())
        f = ((f.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1e-9))).astype(np.uint8)
    return np.ascontiguousarray(f)


class SessionSource:
    """One video stream of a session folder (the frontal camera by default)."""

    kind = "session"
    numbering = "seq"

    def __init__(self, path: str | Path, stream: str | None = None) -> None:
        from mestudio.stream.errors import SessionError
        from mestudio.stream.export import media_kind
        from mestudio.stream.session_reader import SessionReader

        try:
            self.reader = SessionReader(path)
            videos = [s for s in self.reader.stream_ids() if media_kind(self.reader.stream(s).info) == "video"]
        except SessionError as e:
            raise SourceError(str(e)) from None
        if stream is None:
            if not videos:
                raise SourceError(f"{path}: no video stream to annotate (streams: {self.reader.stream_ids()})")
            stream = "face" if "face" in videos else videos[0]
        elif stream not in videos:
            raise SourceError(f"{path}: no video stream {stream!r} (video streams: {', '.join(videos) or 'none'})")
        self.path = self.reader.root
        self.stream_id = stream
        self.views = [s for s in videos if s != stream]  # the other cameras, shown beside it
        st = self.reader.stream(stream)
        if len(st) == 0:
            raise SourceError(f"{path}: stream {stream!r} has no frames")
        self._streams = {stream: st}
        self.info = st.info
        self.t0_ns = int(self.reader.manifest.get("t0_host_ns", int(st.index["host_time_ns"][0])))
        self.host_ns = st.index["host_time_ns"].astype(np.int64)
        self.numbers = st.index["seq"].astype(np.int64)
        rate = st.info.get("rate_hz") or st.info.get("fps")
        self.fps = float(rate) if rate else float(1e9 / np.median(np.diff(self.host_ns))) if len(st) > 1 else 30.0
        self.times_s = self._device_times(st.index["device_time_ns"].astype(np.int64))
        self.labels_dir = self.path / "labels"
        self.subject = str(self.reader.manifest.get("participant") or self.path.name)
        self.label = f"{self.path.name} · {stream}"

    def _device_times(self, device_ns: np.ndarray) -> np.ndarray:
        """Session seconds of each frame on the device's clock: durations and differences are the
        camera's, not the arrival times' (which carry the transport's jitter).  The device's own
        timestamps where it gives rising ones, else its sequence numbers at the stream's rate."""
        start = (self.host_ns[0] - self.t0_ns) / 1e9
        from mestudio.stream.session import NO_DEVICE_TIME

        valid = device_ns != NO_DEVICE_TIME
        if valid.all() and (len(device_ns) < 2 or (np.diff(device_ns) > 0).all()):
            return start + (device_ns - device_ns[0]) / 1e9
        return start + (self.numbers - self.numbers[0]) / self.fps

    def __len__(self) -> int:
        return len(self.numbers)

    def frame(self, i: int) -> np.ndarray:
        return _display(self._streams[self.stream_id].frame(i), self.info)

    def view(self, stream: str, i: int) -> np.ndarray | None:
        """The frame of another camera that arrived nearest to frame ``i`` of this one (the earlier on a tie)."""
        st = self._streams.get(stream)
        if st is None:
            st = self._streams[stream] = self.reader.stream(stream)
        if len(st) == 0:
            return None
        host = st.index["host_time_ns"].astype(np.int64)
        t = self.host_ns[i]
        j = int(np.clip(np.searchsorted(host, t), 0, len(st) - 1))
        if j > 0 and abs(host[j - 1] - t) <= abs(host[j] - t):
            j -= 1
        return _display(st.frame(j), st.info)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), "stream": self.stream_id, "numbering": self.numbering}

    def close(self) -> None:
        self._streams.clear()


class ImageFolderSource:
    """An image-sequence clip (CASME II, SAMM, 4DME layouts or a lab's own): frame numbers are the
    images' own numbers (the last number in the name) when they are unique, else positions."""

    kind = "images"

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        from mestudio.analysis.analyzer.errors import InputError
        from mestudio.analysis.analyzer.sources import ImageSequence
        from mestudio.analysis.datasets.clips import frame_number

        try:
            seq = ImageSequence(path, fps)
        except InputError as e:
            raise SourceError(str(e)) from None
        self.path = seq.path
        self.files = seq.files
        self.fps = seq.fps
        own = [frame_number(f) for f in self.files]
        unique = len(set(own)) == len(own) and min(own) >= 0 and own == sorted(own)
        self.numbering = "image number" if unique else "position"
        self.numbers = np.asarray(own if unique else range(len(self.files)), np.int64)
        self.times_s = np.arange(len(self.files)) / self.fps
        self.stream_id = self.path.name
        self.views: list[str] = []
        self.info: dict[str, Any] = {}
        self.labels_dir = self.path.parent / f"{self.path.name}.labels"
        self.subject = self.path.parent.name or self.path.name
        self.label = f"{self.path.parent.name}/{self.path.name}"

    def __len__(self) -> int:
        return len(self.files)

    def frame(self, i: int) -> np.ndarray:
        import cv2

        img = cv2.imread(str(self.files[i]), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise SourceError(f"{self.files[i]}: not an image OpenCV can read")
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        return _display(img, {})

    def view(self, stream: str, i: int) -> np.ndarray | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), "stream": self.stream_id, "numbering": self.numbering}

    def close(self) -> None:
        pass


class VideoFileSource:
    """A video file through FFmpeg (PyAV), frame-accurate: one demux pass lists every frame's
    presentation time; frame ``i`` is found by seeking to the key frame before it and decoding on."""

    kind = "video"
    numbering = "frame index"

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        import av

        self.path = Path(path)
        try:
            self._c = av.open(str(self.path))
        except (av.FFmpegError, OSError) as e:
            raise SourceError(f"{self.path}: not a video FFmpeg can read ({e})") from None
        if not self._c.streams.video:
            self._c.close()
            raise SourceError(f"{self.path}: has no video stream")
        self._s = self._c.streams.video[0]
        pts = sorted(p.pts for p in self._c.demux(self._s) if p.pts is not None and p.size)
        if not pts:
            self._c.close()
            raise SourceError(f"{self.path}: no video frames")
        self._pts = np.asarray(pts, np.int64)
        tb = float(self._s.time_base) if self._s.time_base else 1.0 / 1000
        self.times_s = (self._pts - self._pts[0]) * tb
        rate = self._s.average_rate or self._s.guessed_rate
        self.fps = float(fps or (rate if rate else 0) or 30.0)
        self.numbers = np.arange(len(pts), dtype=np.int64)
        self.stream_id = self.path.stem
        self.views: list[str] = []
        self.info: dict[str, Any] = {}
        self.labels_dir = self.path.parent / f"{self.path.name}.labels"
        self.subject = self.path.parent.name or self.path.stem
        self.label = self.path.name
        self._cache: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._decoder: Any = None
        self._next = -1  # the position the running decoder yields next

    def __len__(self) -> int:
        return len(self._pts)

    def frame(self, i: int) -> np.ndarray:
        import av

        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        if not 0 <= i < len(self._pts):
            raise IndexError(f"frame {i} of {len(self._pts)}")
        if self._decoder is None or not self._next <= i < self._next + CACHE_FRAMES:
            self._c.seek(int(self._pts[i]), stream=self._s, backward=True, any_frame=False)
            self._decoder, self._next = self._c.decode(self._s), -1
        try:
            for f in self._decoder:
                if f.pts is None:
                    continue
                k = int(np.searchsorted(self._pts, f.pts))
                if k >= len(self._pts) or self._pts[k] != f.pts:
                    continue
                img = f.to_ndarray(format="rgb24" if f.format.name not in ("gray", "gray8") else "gray")
                self._cache[k] = _display(img, {})
                if len(self._cache) > CACHE_FRAMES:
                    self._cache.popitem(last=False)
                self._next = k + 1
                if k >= i:
                    break
        except av.FFmpegError as e:
            raise SourceError(f"{self.path}: decoding stopped at frame {i} ({e})") from None
        if i not in self._cache:
            raise SourceError(f"{self.path}: frame {i} could not be decoded")
        return self._cache[i]

    def view(self, stream: str, i: int) -> np.ndarray | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), "stream": self.stream_id, "numbering": self.numbering}

    def close(self) -> None:
        self._decoder = None
        self._c.close()


Source = SessionSource | ImageFolderSource | VideoFileSource


def open_source(path: str | Path, stream: str | None = None, fps: float | None = None) -> Source:
    """A session folder, an image-sequence folder or a video file."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such session, video file or image folder")
    if (p / "manifest.json").is_file():
        return SessionSource(p, stream)
    if p.is_dir():
        return ImageFolderSource(p, fps)
    return VideoFileSource(p, fps)


def position_of(source: Source, number: int) -> int:
    """The position of frame number ``number`` (the nearest one when it is not in the source)."""
    nums = source.numbers
    j = int(np.searchsorted(nums, number))
    if j >= len(nums):
        return len(nums) - 1
    if j > 0 and nums[j] != number and number - nums[j - 1] < nums[j] - number:
        return j - 1
    return j


def time_of(source: Source, number: int) -> float:
    return float(source.times_s[position_of(source, number)])
