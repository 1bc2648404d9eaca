"""Republish a recorded session on the wire, as the devices and stages published it live.

Frames and events go out in recorded host-time order with their original topics and headers, so
every reader (monitor, analyzer, sync) runs the same code on a replay as on a live session.
Two endpoints: ``replay`` (PUB, lossy, for viewers) and ``replay-lossless`` (XPUB with NODROP:
the replayer waits for its slowest subscriber, for readers that must see every frame).
"""

from __future__ import annotations

import heapq
import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import zmq

from mestudio.stream import messages as msgs
from mestudio.stream import wire
from mestudio.stream.bus import Endpoints
from mestudio.stream.errors import ConsentError, SessionError, StreamError
from mestudio.stream.session import NO_DEVICE_TIME
from mestudio.stream.session_reader import SessionReader

LOSSY, LOSSLESS = "replay", "replay-lossless"


def _frames(reader: SessionReader, sid: str, damaged: list[str] | None = None) -> Iterator[tuple[int, int, list]]:
    st = reader.stream(sid)
    fmt = st.info.get("pixel_format", "")
    for i, (rec, data, why) in enumerate(st.frames_or_damage()):
        if data is None:  # left out: readers see a gap in its seq, as for a frame lost live
            if damaged is not None:
                damaged.append(str(why))
            continue
        dev = int(rec["device_time_ns"])
        parts = wire.frame_parts(
            sid,
            int(rec["seq"]),
            np.ascontiguousarray(data),
            host_time_ns=int(rec["host_time_ns"]),
            device_time_ns=None if dev == NO_DEVICE_TIME else dev,
            pixel_format=fmt,
        )
        yield int(rec["host_time_ns"]), i, parts


def _event_parts(ev: dict) -> list | None:
    """A recorded event as it went out live, or None for a record that is damaged or not a message."""
    try:
        kind = wire.Kind[str(ev.get("kind", "event")).upper()]
        host = ev["host_time_ns"]
        dev = ev.get("device_time_ns")
        body = ev.get("body") or {}
        if kind == wire.Kind.FRAME or not isinstance(host, int) or not isinstance(body, dict):
            return None
        if dev is not None and not isinstance(dev, int):
            return None
        topic = msgs.check_topic(str(ev.get("topic")))
        return wire.json_parts(
            kind,
            str(ev.get("stream_id", "")),
            int(ev.get("seq", 0)),
            body,
            topic=topic,
            host_time_ns=host,
            device_time_ns=dev,
        )
    except (KeyError, TypeError, ValueError, OverflowError, struct.error):
        return None


def _events(reader: SessionReader) -> Iterator[tuple[int, int, list]]:
    for i, ev in enumerate(reader.events()):
        parts = _event_parts(ev)
        if parts is not None:
            yield ev["host_time_ns"], i, parts


def messages(
    reader: SessionReader, streams: list[str] | None = None, damaged: list[str] | None = None
) -> Iterator[tuple[int, list]]:
    """(host_time_ns, parts) of every recorded message, merged in host-time order; a frame damaged
    on disk is left out (and said in ``damaged``)."""
    sids = [s for s in reader.stream_ids() if streams is None or s in streams]
    gens = [_frames(reader, s, damaged) for s in sids] + [_events(reader)]
    for host, _, parts in heapq.merge(*gens, key=lambda m: m[0]):
        yield host, parts


class Replayer:
    """Binds the replay endpoints; ``run()`` publishes the session once (or forever with loop)."""

    def __init__(
        self,
        session_dir: str | Path,
        *,
        speed: float | None = 1.0,
        loop: bool = False,
        streams: list[str] | None = None,
        ctx: zmq.Context | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise StreamError(f"replay speed must be positive, got {speed}")
        self.reader = SessionReader(session_dir)
        if self.reader.manifest.get("consent") == "none":  # checked before any socket exists
            raise ConsentError(
                f"{session_dir}: consent level 'none' (manifest): this participant's data may not "
                "leave the session folder; nothing was replayed"
            )
        # a damaged stream is left out (and named in ``skipped``); every intact one is replayed
        self.skipped: dict[str, str] = {}
        readable = []
        for sid in self.reader.stream_ids():
            try:
                self.reader.stream(sid)
                readable.append(sid)
            except SessionError as e:
                self.skipped[sid] = str(e)
        streams = [s for s in readable if streams is None or s in streams]
        self.speed, self.loop, self.streams = speed, loop, streams
        self.endpoints = Endpoints.plan(
            "ipc", "127.0.0.1", 0, [LOSSY, LOSSLESS], key=f"replay-{os.getpid()}-{id(self)}"
        )
        self._ctx = ctx or zmq.Context.instance()
        self.lossy = self._ctx.socket(zmq.PUB)
        self.lossy.linger = 0
        self.lossy.sndhwm = 60
        self.lossy.bind(self.endpoints.pubs[LOSSY])
        self.lossless = self._ctx.socket(zmq.XPUB)
        self.lossless.linger = 2000
        self.lossless.setsockopt(zmq.XPUB_NODROP, 1)
        self.lossless.sndhwm = 200
        self.lossless.bind(self.endpoints.pubs[LOSSLESS])
        self.subscribers = 0
        self.sent = 0
        self.damaged: list[str] = []  # frames damaged on disk, left out (one line each)

    def wait_for_readers(self, n: int, timeout_s: float) -> None:
        """Block until ``n`` lossless subscriptions arrived (so nothing is sent into the void)."""
        end = time.monotonic() + timeout_s
        while self.subscribers < n:
            left = end - time.monotonic()
            if left <= 0:
                raise StreamError(
                    f"replay: {self.subscribers} of {n} lossless readers connected within {timeout_s:.0f} s"
                )
            self._take_subscriptions(int(min(left, 0.1) * 1000))

    def _take_subscriptions(self, timeout_ms: int = 0) -> None:
        while self.lossless.poll(timeout_ms, zmq.POLLIN):
            msg = self.lossless.recv()
            if msg[:1] == b"\x01":
                self.subscribers += 1
            elif msg[:1] == b"\x00":
                self.subscribers -= 1
            timeout_ms = 0

    def _send_lossless(self, parts: list, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                wire.send(self.lossless, parts, zmq.NOBLOCK)
                return
            except zmq.Again:  # a lossless reader is full: wait for it
                self.lossless.poll(50, zmq.POLLOUT)
                self._take_subscriptions()

    def run(self, stop: threading.Event | None = None) -> int:
        stop = stop or threading.Event()
        while True:
            t_wall0, t_rec0 = time.monotonic_ns(), None
            self.damaged.clear()  # a loop finds the same ones again
            for host, parts in messages(self.reader, self.streams, self.damaged):
                if stop.is_set():
                    return self.sent
                if self.speed is not None:
                    t_rec0 = host if t_rec0 is None else t_rec0
                    due = t_wall0 + (host - t_rec0) / self.speed
                    delay = (due - time.monotonic_ns()) / 1e9
                    if delay > 0 and stop.wait(delay):
                        return self.sent
                self._take_subscriptions()
                self._send_lossless(parts, stop)
                try:
                    wire.send(self.lossy, parts, zmq.NOBLOCK)
                except zmq.Again:
                    pass
                self.sent += 1
            if not self.loop:
                break
        end = wire.json_parts(
            wire.Kind.END,
            "replay",
            0,
            msgs.EndBody(messages=self.sent, session=str(self.reader.root)).to_wire(),
            topic=msgs.END_REPLAY,
        )
        self._send_lossless(end, stop)
        wire.send(self.lossy, end, zmq.NOBLOCK)
        return self.sent

    def close(self) -> None:
        self.lossy.close()
        self.lossless.close()


def summary(reader: SessionReader, streams: list[str]) -> dict:
    return {
        "session": str(reader.root),
        "streams": {s: len(reader.stream(s)) for s in streams},
        "events": len(reader.events()),
        "manifest_status": reader.manifest.get("status"),
    }
