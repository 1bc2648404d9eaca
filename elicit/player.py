"""The clip player: PyAV decodes, pyaudio plays the sound, the sound card's clock paces the picture.

Two decoder threads (one container each, so neither stream waits on the other's interleaving)
fill a small video queue and an audio buffer.  ``due_frame()`` hands the display the newest frame
whose time has come on the player clock (audio clock when there is sound; host clock otherwise)
and counts the frames it had to skip.  The display calls it from its own thread (the Qt thread).
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mestudio.elicit.audio_out import CHANNELS, RATE, OutputStream, SoundSystem
from mestudio.elicit.errors import ClipCodecError

_END = object()
PREROLL_S = 0.5  # sound decoded before the device starts (or the whole sound, if shorter)


@dataclass(slots=True)
class VideoFrame:
    index: int
    pts: float  # seconds on the clip's timeline
    rgb: np.ndarray  # (h, w, 3) uint8


def fit_size(src: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """Largest even size with the source's aspect ratio that fits the box."""
    sw, sh = src
    bw, bh = box
    s = min(bw / sw, bh / sh)
    return max(2, int(sw * s) // 2 * 2), max(2, int(sh * s) // 2 * 2)


class _AudioBuffer:
    """Resampled int16 bytes from the decoder to the sound callback."""

    def __init__(self) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._offset = 0
        self.size = 0
        self._lock = threading.Lock()

    def put(self, b: bytes) -> None:
        with self._lock:
            self._chunks.append(b)
            self.size += len(b)

    def take(self, n: int) -> bytes:
        out = bytearray()
        with self._lock:
            while n > 0 and self._chunks:
                c = self._chunks[0]
                part = c[self._offset : self._offset + n]
                out += part
                n -= len(part)
                self._offset += len(part)
                if self._offset >= len(c):
                    self._chunks.popleft()
                    self._offset = 0
            self.size -= len(out)
        return bytes(out)


class ClipPlayer:
    def __init__(
        self,
        path: str | Path,
        sound: SoundSystem | None = None,
        fit: tuple[int, int] | None = None,
        volume: float = 1.0,
        prefetch_frames: int = 30,
        audio_ahead_s: float = 2.0,
    ) -> None:
        import av

        self.path = Path(path)
        self.volume = volume
        self._stop = threading.Event()
        self._frames: queue.Queue = queue.Queue(maxsize=prefetch_frames)
        self._audio = _AudioBuffer()
        self._audio_ahead_bytes = int(audio_ahead_s * RATE) * 2 * CHANNELS
        self._preroll_bytes = min(self._audio_ahead_bytes, int(PREROLL_S * RATE) * 2 * CHANNELS)
        self.errors: list[str] = []
        try:
            with av.open(str(self.path)) as c:
                if not c.streams.video:
                    raise ClipCodecError(f"{self.path}: has no video stream")
                vs = c.streams.video[0]
                self.src_size = (vs.codec_context.width, vs.codec_context.height)
                self.fps = float(vs.average_rate or vs.guessed_rate or 30)
                self.has_audio = bool(c.streams.audio) and sound is not None
                self.duration_s = float(c.duration / 1e6) if c.duration else 0.0
        except av.FFmpegError as e:
            raise ClipCodecError(f"{self.path}: PyAV cannot open it ({e})") from None
        self.out_size = fit_size(self.src_size, fit) if fit else self.src_size
        self.frame_s = 1.0 / self.fps
        self.dropped = 0  # frames skipped because their time had passed
        self.audio_gap_frames = 0  # silence the device got mid-clip because the decoder was late
        self.shown = 0
        self.audio_t0: float | None = None
        self._content = 0  # audio frames of the clip handed to the device
        self._audio_done = threading.Event()
        self._video_done = False
        self._pending: VideoFrame | None = None
        self._last_pts = 0.0
        self._sound = sound
        self._stream: OutputStream | None = None
        self._lock = threading.Lock()
        self._anchor_media = 0.0
        self._anchor_t = 0.0
        self._cap = float("inf")
        self._running = False
        self._paused = False
        self._started = False
        self._decoder_audio_finished = False
        self._threads = [threading.Thread(target=self._decode_video, name="elicit-video", daemon=True)]
        if self.has_audio:
            self._threads.append(threading.Thread(target=self._decode_audio, name="elicit-audio", daemon=True))
        else:
            self._audio_done.set()
        for t in self._threads:
            t.start()

    # -- decoding (background threads) ----------------------------------------------------
    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._frames.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _decode_video(self) -> None:
        import av

        w, h = self.out_size
        try:
            with av.open(str(self.path)) as c:
                vs = c.streams.video[0]
                vs.thread_type = "AUTO"
                for i, f in enumerate(c.decode(vs)):
                    rgb = f.to_ndarray(format="rgb24", width=w, height=h)
                    pts = float(f.time) if f.time is not None else i * self.frame_s
                    if not self._put(VideoFrame(i, pts, rgb)):
                        return
        except av.FFmpegError as e:
            self.errors.append(f"{self.path}: video decoding failed ({e})")
        finally:
            self._put(_END)

    def _decode_audio(self) -> None:
        import av

        gain = self.volume
        try:
            with av.open(str(self.path)) as c:
                a = c.streams.audio[0]
                rs = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
                for f in c.decode(a):
                    if self.audio_t0 is None:
                        self.audio_t0 = float(f.time or 0.0)
                    for r in rs.resample(f):
                        self._push_audio(r.to_ndarray(), gain)
                    while self._audio.size > self._audio_ahead_bytes and not self._stop.is_set():
                        time.sleep(0.01)
                    if self._stop.is_set():
                        return
                for r in rs.resample(None):
                    self._push_audio(r.to_ndarray(), gain)
        except av.FFmpegError as e:
            self.errors.append(f"{self.path}: audio decoding failed ({e})")
        finally:
            self._decoder_audio_finished = True

    def _push_audio(self, a: np.ndarray, gain: float) -> None:
        if gain != 1.0:
            a = (a.astype(np.float32) * gain).astype(np.int16)
        self._audio.put(a.tobytes())

    # -- the sound callback (PortAudio's thread) ------------------------------------------------
    def _pull(self, n: int) -> bytes:
        now = time.monotonic()
        data = b"" if self._paused else self._audio.take(n * 2 * CHANNELS)
        taken = len(data) // (2 * CHANNELS)
        with self._lock:
            latency = self._stream.latency_s if self._stream else 0.0  # (the callback runs once it is open)
            self._anchor_media = (self.audio_t0 or 0.0) + self._content / RATE - latency
            self._anchor_t = now
            self._cap = taken / RATE
            self._running = True
        self._content += taken
        if taken < n and not self._paused:
            if self._decoder_audio_finished and self._audio.size == 0:
                self._audio_done.set()  # the sound is over: the host clock carries the rest of the picture
                with self._lock:
                    self._cap = float("inf")
            else:
                self.audio_gap_frames += n - taken
        return data

    # -- control (display thread) ------------------------------------------------------------
    def start(self, preroll_timeout_s: float = 10.0) -> None:
        """Wait for the first frame (and some sound), then start the clock."""
        end = time.monotonic() + preroll_timeout_s
        while self._frames.empty() and time.monotonic() < end and not self.errors:
            time.sleep(0.002)
        if self.has_audio and self._sound is not None:
            # a decoder starved on a loaded machine must not cut a gap into the clip's first second
            while (
                self._audio.size < self._preroll_bytes and not self._decoder_audio_finished and time.monotonic() < end
            ):
                time.sleep(0.002)
            self._stream = self._sound.open(self._pull)
            self._stream.start()
        self._started = True  # host clock: it starts when the first frame is taken (never dropped)

    def media_time(self, now: float | None = None) -> float | None:
        """The clip time being seen and heard now; None before the sound has started."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if not self._running:
                return None
            dt = now - self._anchor_t
            if self._paused and self._stream is None:
                dt = 0.0
            return self._anchor_media + min(dt, self._cap)

    def pause(self) -> None:
        if self._paused:
            return
        if self._stream is None:
            with self._lock:
                t = time.monotonic()
                self._anchor_media += t - self._anchor_t
                self._anchor_t = t
        self._paused = True

    def resume(self) -> None:
        if not self._paused:
            return
        if self._stream is None:
            with self._lock:
                self._anchor_t = time.monotonic()
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def _peek(self) -> VideoFrame | None:
        if self._pending is None and not self._video_done:
            try:
                item = self._frames.get_nowait()
            except queue.Empty:
                return None
            if item is _END:
                self._video_done = True
                return None
            self._pending = item
        return self._pending

    def due_frame(self, now: float | None = None) -> VideoFrame | None:
        """The newest frame due by now (None if none is due); frames passed over are counted dropped."""
        if self._stream is None and not self._running and self._started and not self._paused:
            first = self._peek()
            if first is None:
                return None
            with self._lock:  # the host clock starts with the first frame on the screen
                self._anchor_media, self._anchor_t = first.pts, time.monotonic() if now is None else now
                self._cap, self._running = float("inf"), True
        t = self.media_time(now)
        if t is None or self._paused:
            return None
        best = None
        while True:
            f = self._peek()
            if f is None or f.pts > t + 0.002:
                break
            if best is not None:
                self.dropped += 1
            best, self._pending = f, None
            if self.shown == 0:
                break  # the onset frame is always shown, even late; later frames catch up
        if best is not None:
            self.shown += 1
            self._last_pts = best.pts
        return best

    def next_due_in(self, now: float | None = None) -> float:
        """Seconds until the next frame is due (0.005 when unknown)."""
        t = self.media_time(now)
        f = self._peek()
        if t is None or f is None or self._paused:
            return 0.005
        return max(0.0, f.pts - t)

    @property
    def ended(self) -> bool:
        """All frames shown, the last one for its full duration, and the sound played out."""
        if not self._video_done or self._pending is not None:
            self._peek()
            if not self._video_done or self._pending is not None:
                return False
        t = self.media_time()
        return t is not None and t >= self._last_pts + self.frame_s and self._audio_done.is_set()

    @property
    def audio_gap_s(self) -> float:
        """Seconds of silence the device played inside the clip's sound (a decoder that fell behind)."""
        return self.audio_gap_frames / RATE

    @property
    def position_s(self) -> float:
        return self._last_pts

    @property
    def clock_source(self) -> str:
        if self._stream is None:
            return "host"
        return "audio (paced by elicit: device ran faster than real time)" if self._stream.paced_by_us else "audio"

    def close(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        for t in self._threads:
            t.join(timeout=2)
        while not self._frames.empty():
            self._frames.get_nowait()
