"""The monitor's receiving side: a background thread that drains a session's viewer sockets.

It is lossy by construction and never slows a producer: it SUBscribes with a small high-water
mark to the producers' lossy PUB endpoints (never to a ``*-lossless`` replay endpoint, whose
XPUB would wait for us), drains them as fast as messages come, and for frames keeps only the
newest message per stream plus counters read from the headers.  Frames are turned into pixels
only when the window repaints (see display.py), so a slow repaint costs frames on screen, not
messages on the wire.  Events (results, markers, sync health, end of stream) are queued for the
window in order.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import zmq

from mestudio.stream import messages, wire
from mestudio.stream.bus import Endpoints
from mestudio.stream.errors import WireFormatError

RATE_WINDOW_NS = 2_000_000_000  # fps and MB/s are measured over the last 2 s of headers
DISCOVER_S = 1.0  # with a preview rate: take everything this long to learn the streams...
REDISCOVER_S = 5.0  # ...and again this often (a stream whose info message we missed),
# for this long: everything sent in a window is received (a 6-camera rig at full rate: 360 frames/s,
# 690 MB/s of copies), so a short one; a stream of 4 fps or more shows in it
REDISCOVER_WINDOW_S = 0.25
MAX_EVENTS = 5000  # queued for the window; older ones are dropped if the window stalls
INTAKE_WINDOW_S = 0.25  # the intake budget is enforced over this window


@dataclass
class StreamStats:
    """What the monitor knows about one stream, from the headers it received."""

    stream_id: str
    pixel_format: str = ""
    dtype: str = ""
    shape: tuple[int, ...] = ()
    frames_seen: int = 0
    bytes_seen: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    gaps: int = 0  # sequence numbers that never reached the monitor
    last_host_ns: int = 0
    last_arrival_ns: int = 0
    ended: bool = False
    restarts: int = 0
    skipped: int = 0  # sequence numbers not asked for (the preview rate: never sent to us)
    _recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=2048), repr=False)

    def take(self, h: wire.Header, nbytes: int, arrival_ns: int, paused: bool = False) -> None:
        """One frame's header; ``paused``: frames before it were not asked for (not gaps)."""
        if self.last_seq is not None and h.seq < self.last_seq:
            # the stream started again (a device reopened, a looping replay): a new run of numbers
            self.restarts += 1
            self.last_seq = None
            self._recent.clear()
        self.ended = False
        if self.last_seq is not None and h.seq > self.last_seq + 1:
            if paused:
                self.skipped += h.seq - self.last_seq - 1
            else:
                self.gaps += h.seq - self.last_seq - 1
        if self.first_seq is None:
            self.first_seq = h.seq
        self.last_seq = h.seq if self.last_seq is None else max(h.seq, self.last_seq)
        self.pixel_format, self.dtype, self.shape = h.pixel_format, h.dtype, h.shape
        self.frames_seen += 1
        self.bytes_seen += nbytes
        self.last_host_ns = h.host_time_ns
        self.last_arrival_ns = arrival_ns
        self._recent.append((arrival_ns, h.seq, nbytes))
        while self._recent and arrival_ns - self._recent[0][0] > RATE_WINDOW_NS:
            self._recent.popleft()

    def rates(self, now_ns: int) -> tuple[float, float]:
        """(frames/s, MB/s) the stream is producing, from sequence numbers over the last 2 s.

        Counting sequence numbers, not received messages, gives the device's rate even when
        the monitor itself skips frames.  0 when nothing came for the whole window.
        """
        r = [x for x in self._recent if now_ns - x[0] <= RATE_WINDOW_NS]
        if len(r) < 2 or r[-1][0] == r[0][0]:
            return 0.0, 0.0
        dt = (r[-1][0] - r[0][0]) / 1e9
        fps = (r[-1][1] - r[0][1]) / dt
        return fps, fps * r[-1][2] / 1e6

    def copy(self) -> StreamStats:
        c = StreamStats(
            self.stream_id,
            self.pixel_format,
            self.dtype,
            self.shape,
            self.frames_seen,
            self.bytes_seen,
            self.first_seq,
            self.last_seq,
            self.gaps,
            self.last_host_ns,
            self.last_arrival_ns,
            self.ended,
            self.restarts,
            self.skipped,
        )
        c._recent = collections.deque(self._recent, maxlen=self._recent.maxlen)
        return c


@dataclass
class Snapshot:
    """What the window takes on one repaint."""

    frames: dict[str, wire.Message]  # newest undisplayed frame per stream
    stats: dict[str, StreamStats]
    events: list[wire.Message]
    received: int  # messages received so far
    bad: int  # messages that were not mestudio messages
    arrivals: dict[str, int] = field(default_factory=dict)  # monotonic ns each frame was received


def is_image(shape: tuple[int, ...]) -> bool:
    """A picture (shown one frame at a time: it may be decimated), not audio samples (n, channels)."""
    return len(shape) >= 2 and min(shape[:2]) >= 16


def viewer_endpoints(endpoints: Endpoints) -> list[str]:
    """The lossy endpoints a viewer may connect to (a lossless replay endpoint would wait for us),
    and the recorder's status PUB (its backlog) where the session has one."""
    eps = [ep for name, ep in sorted(endpoints.pubs.items()) if not name.endswith("-lossless")]
    return eps + ([endpoints.recorder_status] if endpoints.recorder_status else [])


class LiveFeed:
    """Receives a session's lossy viewer stream in a thread; ``snapshot()`` hands it to the window."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        hwm: int = 16,
        context: zmq.Context | None = None,
        max_mb_per_s: float = 0.0,
        preview_fps: float = 0.0,
    ) -> None:
        self._own_ctx = context is None
        self._ctx = context or zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.rcvhwm = hwm
        self._sock.linger = 0
        self._sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.endpoints = viewer_endpoints(endpoints)
        for ep in self.endpoints:
            endpoints.connect(self._sock, ep)  # CURVE on a tcp session
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[list, int]] = {}  # stream -> (message parts, arrival ns)
        # Called from the feed's thread when a frame arrives and none was waiting: the window
        # paints it now instead of at its next timer tick (once per snapshot, never a flood).
        self.on_frame: Callable[[], None] | None = None
        self._image_waiting = False  # a picture frame is in _latest, not yet taken
        self._stats: dict[str, StreamStats] = {}
        self._events: collections.deque = collections.deque(maxlen=MAX_EVENTS)
        self.received = 0
        self.bad = 0
        # Receiving costs a copy per byte: above this intake the thread pauses and lets the
        # publishers drop for us (a full viewer queue drops at the sender, for free).  The price:
        # the frames still queued at the senders (transport.viewer_hwm, 60) are shown late.
        # 0 (the default): no cap; the process's niceness keeps the recorder first instead.
        self.max_bytes_per_s = max_mb_per_s * 1e6
        self.throttled_s = 0.0  # time spent pausing because of the cap
        self._window_start = time.monotonic()
        self._window_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Preview rate (0: every frame).  A SUB's topics are filtered at the PUB, so a stream we
        # unsubscribe from is not even sent: after each image frame its topic is dropped until
        # the next is due.  Events come on their channels' topics, always.
        self.preview_s = 1 / preview_fps if preview_fps > 0 else 0.0
        self._everything = True  # subscribed to "" (always without a preview rate)
        self._discover_until = time.monotonic() + DISCOVER_S
        self._paused: dict[str, float] = {}  # image stream -> when its topic is due again
        self._images: set[str] = set()  # streams of pictures (audio and signals are never paused)
        self._subscribed: set[str] = set()  # image streams whose own topic we subscribe to now
        if self.preview_s:
            for channel in sorted(messages.CHANNELS):
                self._sock.setsockopt(zmq.SUBSCRIBE, f"{channel}/".encode())

    def start(self) -> LiveFeed:
        self._thread = threading.Thread(target=self._run, name="monitor-feed", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        sock = self._sock
        while not self._stop.is_set():
            self._respect_budget()
            wait_ms = self._pace() if self.preview_s else 50
            if not sock.poll(wait_ms):
                continue
            for _ in range(64):  # a burst, then look at the stop flag and the budget again
                try:
                    parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                except zmq.ZMQError:
                    return  # the socket was closed under us at shutdown
                self._window_bytes += len(parts[-1])
                self._take(parts)
                if self.max_bytes_per_s and self._window_bytes > self.max_bytes_per_s * INTAKE_WINDOW_S:
                    break

    def _pace(self) -> int:
        """Subscribe again to the streams that are due; returns ms until the next one is."""
        now = time.monotonic()
        if self._everything and now >= self._discover_until:
            self._everything = False
            self._sock.setsockopt(zmq.UNSUBSCRIBE, b"")
            self._discover_until = now + REDISCOVER_S
        elif not self._everything and now >= self._discover_until:
            self._everything = True
            self._sock.setsockopt(zmq.SUBSCRIBE, b"")
            self._discover_until = now + REDISCOVER_WINDOW_S
        for sid, due in list(self._paused.items()):
            if due <= now:
                del self._paused[sid]
                self._want(sid, True)
        nxt = min(self._paused.values(), default=now + 0.05)
        return max(1, min(50, int((nxt - now) * 1000) + 1))

    def _pause(self, sid: str) -> None:
        """This image stream's frame is taken: do not have the next ones sent until due."""
        self._images.add(sid)
        if sid not in self._paused:
            self._want(sid, False)
            self._paused[sid] = time.monotonic() + self.preview_s

    def _announced(self, body: dict) -> None:
        """A stream's info message (sent before its first frame): subscribe to a new picture stream."""
        sid, shape = body.get("stream_id"), body.get("shape")
        if isinstance(sid, str) and isinstance(shape, list) and all(isinstance(d, int) for d in shape):
            if is_image(tuple(shape)) and sid not in self._paused:
                self._images.add(sid)
                self._want(sid, True)

    def _want(self, sid: str, on: bool) -> None:
        """(Un)subscribe a stream's topic once: ZeroMQ counts repeated subscriptions."""
        if on != (sid in self._subscribed):
            self._sock.setsockopt(zmq.SUBSCRIBE if on else zmq.UNSUBSCRIBE, sid.encode())
            (self._subscribed.add if on else self._subscribed.discard)(sid)

    def _respect_budget(self) -> None:
        """Sleep out the rest of the window once its share of the intake budget is used."""
        now = time.monotonic()
        elapsed = now - self._window_start
        if self.max_bytes_per_s and self._window_bytes > self.max_bytes_per_s * INTAKE_WINDOW_S:
            pause = INTAKE_WINDOW_S - elapsed
            if pause > 0:
                self.throttled_s += pause
                self._stop.wait(pause)
            elapsed = INTAKE_WINDOW_S
        if elapsed >= INTAKE_WINDOW_S:
            self._window_start, self._window_bytes = time.monotonic(), 0

    def _take(self, parts: list) -> None:
        now = time.monotonic_ns()
        self.received += 1
        try:
            if len(parts) != 3:
                raise WireFormatError(f"{len(parts)} parts")
            h = wire.Header.unpack(parts[1].buffer)
            if h.kind != wire.Kind.FRAME:
                msg = wire.decode(parts)
        except (WireFormatError, ValueError):
            self.bad += 1
            return
        wake = False
        with self._lock:
            if h.kind == wire.Kind.FRAME:
                st = self._stats.get(h.stream_id) or self._stats.setdefault(h.stream_id, StreamStats(h.stream_id))
                st.take(h, len(parts[2].buffer), now, paused=h.stream_id in self._images)
                self._latest[h.stream_id] = (parts, now)  # the older frame's buffer is released here
                wake = is_image(h.shape) and not self._image_waiting
                self._image_waiting |= wake
            else:
                if h.kind == wire.Kind.END and h.stream_id in self._stats:
                    self._stats[h.stream_id].ended = True
                self._events.append(msg)
        wake_window = self.on_frame
        if wake and wake_window is not None:
            try:
                wake_window()
            except RuntimeError:  # the window was deleted under us at shutdown: stop waking it
                self.on_frame = None
        if self.preview_s and h.kind == wire.Kind.FRAME and is_image(h.shape):
            self._pause(h.stream_id)
        elif self.preview_s and h.kind != wire.Kind.FRAME and msg.topic.startswith(messages.INFO):
            self._announced(msg.data)

    def snapshot(self, with_stats: bool = True) -> Snapshot:
        """The newest frame of each stream not yet taken, all queued events, and the counters
        (``with_stats=False``: no counters, a cheaper snapshot for painting a frame as it arrives)."""
        with self._lock:
            latest, self._latest = self._latest, {}
            self._image_waiting = False
            events = list(self._events)
            self._events.clear()
            stats = {k: v.copy() for k, v in self._stats.items()} if with_stats else {}
        frames, arrivals = {}, {}
        for sid, (parts, arrival_ns) in latest.items():
            try:
                frames[sid] = wire.decode(parts)
                arrivals[sid] = arrival_ns
            except WireFormatError:
                self.bad += 1
        return Snapshot(frames, stats, events, self.received, self.bad, arrivals)

    def close(self) -> None:
        """Stop the thread, then close the socket (linger 0) and our own context."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._sock.close(linger=0)
        with self._lock:
            self._latest.clear()
        if self._own_ctx:
            self._ctx.term()
