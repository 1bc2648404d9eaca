"""A small publishing session for monitor tests: real ZeroMQ sockets, real wire messages.

It plays the parts the monitor reads: devices (a grey face camera, a colour + depth pair, a
microphone), the analyzer (scores, landmarks, spotted events with AUs and emotion), sync health,
the elicitation protocol, and the supervisor's commands socket (it answers every command with
the marker the supervisor records).  Everything it binds is closed by ``close()`` (linger 0).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from mestudio.capture.face.anatomy import FACE_CENTRE
from mestudio.capture.face.render import source_depth_mm, source_gray, source_rgb
from mestudio.stream import wire
from mestudio.stream.bus import Endpoints, Publisher

PRODUCERS = ["face", "kinect", "mic", "analyzer", "sync", "elicit", "supervisor"]
AUS = ["AU1", "AU2", "AU4", "AU6", "AU7", "AU12", "AU14", "AU15", "AU17"]


def face_landmarks(cx: float, cy: float, r: float) -> np.ndarray:
    """68 points on a face-like outline: jaw, brows, eyes, nose, mouth."""
    pts = []
    for a in np.linspace(math.pi * 0.05, math.pi * 0.95, 17):  # jaw
        pts.append((cx - r * math.cos(a), cy + r * 0.2 + r * 0.9 * math.sin(a)))
    for side in (-1, 1):  # brows and eyes
        for k in range(5):
            pts.append((cx + side * r * (0.15 + 0.1 * k), cy - r * 0.45 - r * 0.05 * math.sin(k)))
        for a in np.linspace(0, 2 * math.pi, 6, endpoint=False):
            pts.append((cx + side * r * 0.38 + r * 0.13 * math.cos(a), cy - r * 0.22 + r * 0.06 * math.sin(a)))
    for k in range(9):  # nose
        pts.append((cx + (k - 4) * r * 0.03 if k > 3 else cx, cy - r * 0.2 + r * 0.08 * min(k, 4)))
    for a in np.linspace(0, 2 * math.pi, 20, endpoint=False):  # mouth
        pts.append((cx + r * 0.35 * math.cos(a), cy + r * 0.45 + r * 0.12 * math.sin(a)))
    return np.asarray(pts[:68], dtype=np.float32)


class PublishingSession:
    """Publishes frames and events at ``fps`` in a thread until closed."""

    def __init__(self, tmp: Path, fps: float = 30.0, size: tuple[int, int] = (480, 640)) -> None:
        self.root = Path(tmp)
        self.endpoints = Endpoints.plan("ipc", "127.0.0.1", 0, PRODUCERS, key=str(self.root.resolve()))
        self.ctx = zmq.Context()
        self.pubs = {p: Publisher(self.ctx, self.endpoints, p, record=False) for p in PRODUCERS}
        self.commands = self.ctx.socket(zmq.PULL)
        self.commands.linger = 0
        self.commands.bind(self.endpoints.commands)
        self.received_commands: list[wire.Message] = []
        self.fps = fps
        h, w = size
        import cv2

        cx, cy = (int(v) for v in FACE_CENTRE)  # frame the face as the demo's cameras do
        crop = np.s_[max(0, cy - 96) : cy + 96, cx - 128 : cx + 128]
        self.gray = cv2.resize(source_gray()[crop], (w, h))
        self.rgb = cv2.resize(source_rgb()[crop], (w, h))
        self.depth = cv2.resize(source_depth_mm()[crop], (w, h), interpolation=cv2.INTER_NEAREST)
        self.t0_ns = wire.now_ns()
        self.seq = 0
        self.skip_seqs: set[int] = set()
        self.paused = False
        self._trace: list[tuple[float, float]] = []  # face frames "lost at the device" (never published)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publishing-session", daemon=True)

    def start(self) -> PublishingSession:
        self._thread.start()
        return self

    def _event(self, producer: str, topic: str, body: dict, host_ns: int | None = None) -> None:
        self.pubs[producer].send(
            wire.json_parts(wire.Kind.EVENT, producer, self.seq, body, topic=topic, host_time_ns=host_ns)
        )

    def _run(self) -> None:
        period = 1.0 / self.fps
        next_t = time.monotonic()
        h, w = self.gray.shape
        while not self._stop.is_set():
            now = wire.now_ns()
            i = self.seq
            shift = int(6 * math.sin(i / 15))
            if i not in self.skip_seqs:
                self.pubs["face"].send(
                    wire.frame_parts(
                        "face", i, np.roll(self.gray, shift, axis=1), host_time_ns=now, pixel_format="mono8"
                    )
                )
            if i % 2 == 0:
                self.pubs["kinect"].send(
                    wire.frame_parts("kinect-color", i // 2, self.rgb, host_time_ns=now, pixel_format="rgb8")
                )
                self.pubs["kinect"].send(
                    wire.frame_parts("kinect-depth", i // 2, self.depth, host_time_ns=now, pixel_format="depth16")
                )
            audio = (3000 * np.sin(np.arange(800) * 2 * math.pi * 440 / 48000)).astype(np.int16).reshape(800, 1)
            self.pubs["mic"].send(wire.frame_parts("mic", i, audio, host_time_ns=now, pixel_format="s16le"))
            t = (now - self.t0_ns) / 1e9
            if i == 10:  # what analysis/node.py publishes, then its traces and events
                self._event(
                    "analyzer",
                    "results/analyzer",
                    {"type": "start", "stream": "face", "fps": self.fps, "latency_s": 0.6},
                )
                self._event(
                    "analyzer", "results/analyzer", {"type": "face", "state": "acquired", "seq": 0, "t": now / 1e9}
                )
            self._trace.append((now / 1e9, 0.2 + 0.1 * math.sin(t * 3) + (0.6 if (t % 2.0) > 1.5 else 0.0)))
            if len(self._trace) >= 5:
                self._event(
                    "analyzer",
                    "results/analyzer",
                    {
                        "type": "trace",
                        "seq": list(range(i - 4, i + 1)),
                        "t": [x for x, _ in self._trace],
                        "score": [y for _, y in self._trace],
                        "quality": 0.93,
                        "faces": 1,
                        "threshold": 0.6,
                    },
                )
                self._trace = []
            self._event(
                "analyzer",
                "results/analyzer",
                {  # landmarks: fields docs/monitor.md reads
                    "stream_id": "face",
                    "seq": i,
                    "host_time_ns": now,
                    "landmarks": face_landmarks(w / 2 + shift, h * 0.5, h * 0.26).tolist(),
                    "rois": {
                        "brows": [w / 2 + shift - h * 0.2, h * 0.33, h * 0.4, h * 0.08],
                        "mouth": [w / 2 + shift - h * 0.12, h * 0.58, h * 0.24, h * 0.1],
                    },
                },
            )
            if i % int(self.fps * 2) == int(self.fps * 2) - 1:
                strength = np.random.default_rng(i).uniform(0, 1, len(AUS))
                self._event(
                    "analyzer",
                    "results/analyzer",
                    {
                        "type": "event",
                        "kind": "micro",
                        "method": "test",
                        "onset_s": now / 1e9 - 0.45,
                        "apex_s": now / 1e9 - 0.3,
                        "offset_s": now / 1e9 - 0.05,
                        "duration_s": 0.4,
                        "aus": [int(a[2:]) for a, v in zip(AUS, strength) if v >= 0.5],
                        "au_strength": {a[2:]: round(float(v), 3) for a, v in zip(AUS, strength)},
                        "emotion": "negative",
                        "emotions": ["negative"],
                        "emotion_rule": "test",
                    },
                )
            if i % int(self.fps) == 0:
                self._event(
                    "sync",
                    "sync/health",
                    {
                        "streams": {
                            "face": {"offset_ms": 0.42, "drift_ppm": 12.5, "jitter_ms": 0.31},
                            "kinect-color": {"offset_ms": -3.1, "drift_ppm": -40.2, "jitter_ms": 1.2},
                            "kinect-depth": {"offset_ms": -3.0, "drift_ppm": -40.0, "jitter_ms": 1.1},
                        }
                    },
                )
                self._event(
                    "elicit",
                    "state/elicit",
                    {
                        "state": "clip",
                        "clip": "disgust-02",
                        "step": 2,
                        "steps": 11,
                        "position_s": t,
                        "paused": self.paused,
                    },
                )
            if i == 10:
                self._event("elicit", "markers/elicit", {"event": "clip_onset", "clip": "disgust-02"})
            self._answer_commands()
            self.seq += 1
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_t = time.monotonic()

    def _answer_commands(self) -> None:
        """What the supervisor does: record the command and publish it as a marker."""
        while True:
            try:
                msg = wire.recv(self.commands, zmq.NOBLOCK)
            except zmq.Again:
                return
            self.received_commands.append(msg)
            verb = msg.topic.removeprefix("command/")
            if verb in ("pause", "resume"):  # what elicit does
                self.paused = verb == "pause"
            self._event(
                "supervisor",
                msg.topic,
                {"command": msg.topic.removeprefix("command/"), "from": msg.header.stream_id, **msg.data},
            )

    def end(self) -> None:
        """Stop publishing; every device stream sends END, its last message, as capture/node.py does."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for producer, sid in (("face", "face"), ("kinect", "kinect-color"), ("kinect", "kinect-depth"), ("mic", "mic")):
            self.pubs[producer].send(wire.json_parts(wire.Kind.END, sid, 0, {"frames": self.seq}, topic=f"end/{sid}"))

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for p in self.pubs.values():
            p.close()
        self.commands.close(linger=0)
        self.ctx.destroy(linger=0)


# -- the window on a running `mestudio run` --------------------------------------------------


@dataclass
class LiveWindow:
    """A MonitorWindow joined to a running session, and the Qt application it runs in."""

    app: Any
    target: Any
    feed: Any
    win: Any

    def pumped(self, pred: Callable[[], bool]) -> Callable[[], bool]:
        """``pred`` checked after Qt has handled what is pending (for ``wait_for``)."""
        return lambda: (self.app.processEvents(), pred())[1]


@contextmanager
def live_window(root: Path) -> Iterator[LiveWindow]:
    """The window on the live session ``root`` (feed and operator commands included), all closed on exit."""
    from mestudio.monitor.feed import LiveFeed
    from mestudio.monitor.operator import CommandSender
    from mestudio.monitor.qt import application, shutdown
    from mestudio.monitor.target import resolve
    from mestudio.monitor.window import MonitorWindow

    app = application()
    ctx = zmq.Context()
    feed = win = cmds = None
    try:
        target = resolve(str(root))
        feed = LiveFeed(target.endpoints, context=ctx).start()
        cmds = CommandSender(target.endpoints, ctx)
        win = MonitorWindow(target, feed, cmds)
        win.show()
        yield LiveWindow(app, target, feed, win)
    finally:
        if win is not None:
            win.stop()
            shutdown(app, win)
        if feed is not None:
            feed.close()
        if cmds is not None:
            cmds.close()
        ctx.term()


# -- screenshot checks -------------------------------------------------------------------------


def read_png(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"{path} is not a readable PNG"
    return img[..., ::-1]  # RGB


def region(img: np.ndarray, window, widget) -> np.ndarray:
    """The pixels of ``widget`` inside a screenshot of ``window`` (device pixel ratio 1)."""
    from mestudio.monitor.qt import QtCore

    p = widget.mapTo(window, QtCore.QPoint(0, 0))
    return img[p.y() : p.y() + widget.height(), p.x() : p.x() + widget.width()]


def has_colour(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 40, min_pixels: int = 5) -> bool:
    d = np.abs(img.astype(np.int16) - np.asarray(rgb, np.int16)).max(axis=-1)
    return int((d <= tol).sum()) >= min_pixels


def not_blank(img: np.ndarray, min_colours: int = 50) -> bool:
    return img.size > 0 and float(img.std()) > 8.0 and len(np.unique(img.reshape(-1, 3), axis=0)) > min_colours


def saved_copy(path: Path) -> None:
    """Keep a copy for people to look at when MESTUDIO_SCREENSHOTS names a folder."""
    import os
    import shutil

    folder = os.environ.get("MESTUDIO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)
