"""The recorder's handling of each message: validated, written into the session folder, counted.

The process around it (sockets, flushes, the disk's free space) is stream/recorder_node.py; the
backlog measures are stream/backlog.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zmq

from mestudio.stream import messages, wire
from mestudio.stream.backlog import BEHIND_S, Backlog, past_bound, rss_mb
from mestudio.stream.codec import pixel_format_for
from mestudio.stream.errors import WireFormatError
from mestudio.stream.messages import RejectCounter
from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_writer import SessionWriter, StreamWriter
from mestudio.stream.shm_ring import RingReaders


class Recorder:
    """Writes decoded messages into a SessionWriter and keeps the counts of what it saw.

    Every message is untrusted: one that breaks the wire format or its topic's body model is
    counted per kind (``rejects``), noted once per kind, and never stops the recording."""

    def __init__(
        self,
        session_dir: Path,
        log: Callable[[str], None] | None = None,
        compress: dict[str, str] | None = None,
        max_backlog_s: float = 0.0,
        max_backlog_mb: float = 0.0,
        shed_above_mb: float = 0.0,
    ) -> None:
        self.writer = SessionWriter(session_dir, compress)
        self.root = Path(session_dir)
        self.messages = 0
        self._log = log
        self.note = self._noted(log)
        self.rejects = RejectCounter("recorder", self.note)
        self.ends: dict[str, dict] = {}  # producer stream id -> its END body
        self.paused = False  # the operator stopped recording: frames are counted, not written
        self.skipped_while_paused: dict[str, int] = {}
        self.started_ns = time.monotonic_ns()
        self.lag = Backlog()
        self.behind = False  # noted as behind by more than BEHIND_S, not yet caught up
        # past either bound (0 = none) the session is told loudly that the recorder cannot keep up;
        # nothing is dropped for it: the queue goes on growing in memory, and says how much
        self.max_backlog_s, self.max_backlog_mb = max_backlog_s, max_backlog_mb
        self.cannot_keep_up = False
        self.cannot_keep_up_times = 0
        # past shed_above_mb (0 = never) of estimated queue the recorder sheds: frames are counted
        # per stream, not written, until the queue is under half of it.  A queue that grows until
        # the machine's memory runs out gets the recorder killed, and with it the rest of the session
        self.shed_above_mb = shed_above_mb
        self.shedding = False
        self.shed: dict[str, int] = {}
        self.shed_times = 0
        self._shed_at_start = 0  # frames shed before the episode under way
        self.rings = RingReaders()  # local producers' shared-memory rings (stream/shm_ring.py)

    def _noted(self, log: Callable[[str], None] | None) -> Callable[[str], None]:
        def note(text: str) -> None:  # the log, and the session's timeline (once per kind and interval)
            if log is not None:
                log(text)
            self._event(messages.RECORDER_REJECTED, {"note": text})

        return note

    def backlog_s(self) -> float:
        """How far behind its producers the recorder is now, in seconds (worst stream)."""
        return self.lag.worst_s()

    def check_backlog(self, log: Callable[[str], None] | None = None) -> None:
        """Note in the timeline (and the log) when the backlog passes BEHIND_S, and when it is
        back under half of it: falling behind is never silent."""
        now_s = self.lag.worst_s()
        self._check_bound(now_s, log)
        self._check_shed(log)
        if not self.behind and now_s > BEHIND_S:
            self.behind = True
        elif self.behind and now_s < BEHIND_S / 2:
            self.behind = False
        else:
            return
        text = (
            f"recorder: {now_s:.1f} s behind its producers (the disk or the CPU is too slow for the rig)"
            if self.behind
            else f"recorder: caught up ({now_s:.2f} s behind; at worst {self.lag.max_s:.1f} s)"
        )
        if log is not None:
            log(text)
        self._event(messages.RECORDER_BEHIND, {"behind": self.behind, "backlog_s": round(now_s, 3), "note": text})

    def _check_bound(self, now_s: float, log: Callable[[str], None] | None) -> None:
        """Past max_backlog_s or max_backlog_mb: a session problem (not fatal) and a timeline event,
        once per episode; the episode ends with the backlog back under half of BEHIND_S."""
        mb = self.lag.queued_mb()
        over = past_bound(now_s, mb, self.max_backlog_s, self.max_backlog_mb)
        if over and not self.cannot_keep_up:
            self.cannot_keep_up = True
            self.cannot_keep_up_times += 1
            text = (
                f"recorder cannot keep up: {now_s:.1f} s behind its producers, ~{mb:.0f} MB queued in memory "
                f"(bounds: recorder.max_backlog_s = {self.max_backlog_s:g}, max_backlog_mb = {self.max_backlog_mb:g});"
                " nothing is dropped yet, but the disk or the CPU is too slow for this rig"
            )
            self._problem(text)
        elif self.cannot_keep_up and now_s < BEHIND_S / 2:
            self.cannot_keep_up = False
            text = f"recorder keeps up again ({now_s:.2f} s behind; at worst {self.lag.max_s:.1f} s)"
        else:
            return
        if log is not None:
            log(text)
        self._event(
            messages.RECORDER_CANNOT_KEEP_UP,
            {
                "cannot_keep_up": self.cannot_keep_up,
                "backlog_s": round(now_s, 3),
                "queued_mb": round(mb, 1),
                "rss_mb": round(rss_mb(), 1),
                "note": text,
            },
        )

    def _check_shed(self, log: Callable[[str], None] | None = None) -> None:
        """Start shedding past ``shed_above_mb`` of estimated queue, stop under half of it; both
        said in the log and on the timeline (the start also as a session problem)."""
        if self.shed_above_mb <= 0:
            return
        mb = self.lag.queued_mb()
        total = sum(self.shed.values())
        if not self.shedding and mb > self.shed_above_mb:
            self.shedding, self._shed_at_start = True, total
            self.shed_times += 1
            text = (
                f"recorder sheds frames: ~{mb:.0f} MB queued in memory, past recorder.shed_above_mb = "
                f"{self.shed_above_mb:g}; frames are counted, not written, until it is under half of that "
                "(the disk or the CPU is far too slow for this rig)"
            )
            self._problem(text)
        elif self.shedding and mb < self.shed_above_mb / 2:
            self.shedding = False
            text = f"recorder writes again: ~{mb:.0f} MB queued; {total - self._shed_at_start} frames shed"
        else:
            return
        if log is not None:
            log(text)
        body = {"shedding": self.shedding, "queued_mb": round(mb, 1), "shed": dict(self.shed), "note": text}
        self._event(messages.RECORDER_SHEDDING, body)

    def _problem(self, text: str) -> None:
        """A session problem on the timeline that does not end the session."""
        self._event(messages.SESSION_PROBLEM, messages.SessionProblem(problem=text, fatal=False).to_wire())

    def _event(self, topic: str, body: dict) -> None:
        """One of the recorder's own events on the session's timeline, stamped now."""
        self.writer.event(
            {
                "topic": topic,
                "kind": "event",
                "stream_id": "recorder",
                "seq": 0,
                "host_time_ns": wire.now_ns(),
                "device_time_ns": None,
                "body": body,
            }
        )

    @property
    def bad_messages(self) -> int:
        return self.rejects.total

    def handle(self, parts: list) -> None:
        try:
            self._handle(parts)
        except WireFormatError as e:
            self.rejects.reject(e)

    def _handle(self, parts: list) -> None:
        msg = wire.decode(parts, shared_memory=True)
        h = msg.header
        if h.shared_memory:
            self._frame_from_ring(msg)
            return
        if h.kind == wire.Kind.FRAME:
            self._frame(h, msg.raw.buffer if isinstance(msg.raw, zmq.Frame) else msg.raw)
            return
        body = messages.parse_body(msg.topic, msg.data)
        if isinstance(body, messages.StreamInfoBody):
            if msg.topic != messages.info_topic(body.stream_id):
                raise messages.MessageError(f"{msg.topic}: describes stream {body.stream_id!r}", kind="body-invalid")
            w = self.writer.streams.get(body.stream_id)
            if w is not None and (w.info["dtype"] != body.dtype or list(w.info["shape"]) != body.shape):
                raise messages.MessageError(
                    f"{msg.topic}: {body.shape} {body.dtype} contradicts the stream's frames "
                    f"{w.info['shape']} {w.info['dtype']}",
                    kind="frame-layout",
                )
        self.messages += 1
        record = {
            "topic": msg.topic,
            "kind": h.kind.name.lower(),
            "stream_id": h.stream_id,
            "seq": h.seq,
            "host_time_ns": h.host_time_ns,
            "device_time_ns": h.device_time_ns,
            "body": msg.data,
        }
        if isinstance(body, messages.StreamInfoBody):
            self._stream(body.stream_id, body.dtype, tuple(body.shape), body.pixel_format).describe(msg.data)
        if h.kind == wire.Kind.END:
            self.ends[h.stream_id] = msg.data
        self.writer.event(record)

    def _frame(self, h: wire.Header, payload) -> None:
        """One frame (its header checked by wire.decode): the stream's layout kept, then written."""
        w = self.writer.streams.get(h.stream_id)
        if w is not None and (w.info["dtype"] != h.dtype or tuple(w.info["shape"]) != h.shape):
            raise WireFormatError(
                f"stream {h.stream_id!r} seq {h.seq}: {h.shape} {h.dtype}, but the stream is "
                f"{tuple(w.info['shape'])} {w.info['dtype']}",
                kind="frame-layout",
            )
        self.messages += 1
        if self.paused:
            self.skipped_while_paused[h.stream_id] = self.skipped_while_paused.get(h.stream_id, 0) + 1
            return
        if w is None:
            w = self._stream(h.stream_id, h.dtype, h.shape, h.pixel_format)
        now = time.monotonic_ns()
        self.lag.saw(h.stream_id, now - h.host_time_ns, h.host_time_ns, len(payload))
        if self.shedding:  # counted, not written; the queue it leaves decides when writing resumes
            self.shed[h.stream_id] = self.shed.get(h.stream_id, 0) + 1
            self._check_shed(self._log)
            return
        w.append(h.seq, h.device_time_ns, h.host_time_ns, payload, now)

    def _frame_from_ring(self, msg: wire.Message) -> None:
        """A frame a local producer put in its shared-memory ring: checked like one from the
        socket, written from the ring, and its slot given back once the bytes are with the kernel."""
        h = msg.header
        raw = msg.raw.buffer if isinstance(msg.raw, zmq.Frame) else msg.raw
        nbytes = int(np.dtype(h.dtype).itemsize * math.prod(h.shape))
        view, ring, slot, gen = self.rings.view(raw, nbytes)
        try:
            self._frame(h, view)
        finally:
            view.release()
            ring.release(slot, gen)

    def _stream(self, sid: str, dtype: str, shape: tuple, pixel_format: str) -> StreamWriter:
        """The stream's writer; a stream its codec cannot hold is recorded raw, and said so."""
        codec = self.writer.compress.get(sid)
        if codec and sid not in self.writer.streams and pixel_format_for(dtype, shape) is None:
            self.note(
                f"recorder.compress: stream {sid!r} is {shape} {dtype}, which {codec} cannot hold "
                "(8- or 16-bit gray pictures): recorded uncompressed"
            )
            self.writer.compress.pop(sid)
        return self.writer.stream(sid, dtype, shape, pixel_format)

    def command(self, parts: list) -> None:
        """One message from the supervisor's broadcast, validated like any other."""
        try:
            msg = wire.decode(parts)
            messages.parse_body(msg.topic, msg.data)
        except WireFormatError as e:
            self.rejects.reject(e)
            return
        self.operator(msg.topic.removeprefix(messages.COMMAND))

    def operator(self, verb: str) -> None:
        """`command/record-stop` and `command/record-start` from the experimenter."""
        if verb in ("record-stop", "record-start"):
            self.paused = verb == "record-stop"
            topic = messages.RECORDER_PAUSED if self.paused else messages.RECORDER_RESUMED
            self._event(topic, {"skipped_while_paused": dict(self.skipped_while_paused)})

    def bytes_written(self) -> int:
        return sum(w.bytes for w in self.writer.streams.values())

    def status_body(self) -> messages.RecorderStatus:
        """What viewers are told each flush (messages.RECORDER_STATUS)."""
        return messages.RecorderStatus(
            backlog_s=round(self.lag.worst_s(), 3),
            backlog_max_s=round(self.lag.max_s, 3),
            behind=self.behind,
            cannot_keep_up=self.cannot_keep_up,
            shedding=self.shedding,
            queued_mb=round(self.lag.queued_mb(), 1),
            rss_mb=round(rss_mb(), 1),
            streams={sid: round(self.lag.of_s(sid), 3) for sid in self.writer.streams},
            messages=self.messages,
            bytes=self.bytes_written(),
        )

    def status(self) -> dict:
        return {
            "messages": self.messages,
            "bad_messages": self.bad_messages,
            "rejected": dict(self.rejects.counts),
            "paused": self.paused,
            "skipped_while_paused": dict(self.skipped_while_paused),
            "bytes": self.bytes_written(),
            "backlog_s": round(self.lag.worst_s(), 3),
            "backlog_max_s": round(self.lag.max_s, 3),
            "cannot_keep_up": self.cannot_keep_up,
            "cannot_keep_up_times": self.cannot_keep_up_times,
            "shedding": self.shedding,
            "shed": dict(self.shed),
            "shed_times": self.shed_times,
            "shed_above_mb": self.shed_above_mb,
            "queued_mb": round(self.lag.queued_mb(), 1),
            "rss_mb": round(rss_mb(), 1),
            "shared_memory_frames": self.rings.frames,
            "streams": {
                sid: {
                    "frames": w.frames,
                    "gaps": w.gaps,
                    "bytes": w.bytes,
                    "last_seq": w.last_seq,
                    "backlog_s": round(self.lag.of_s(sid), 3),
                }
                for sid, w in self.writer.streams.items()
            },
            # when these counts were taken: a restarted device goes on from last_seq (supervisor)
            "status_ns": wire.now_ns(),
        }

    def report(self, stopped_because: str) -> dict:
        rep = {
            **self.status(),
            "stopped_because": stopped_because,
            "producers_ended": sorted(self.ends),
            "producer_ends": self.ends,
            "duration_s": (time.monotonic_ns() - self.started_ns) / 1e9,
        }
        write_json_atomic(self.root / "recorder.json", rep)
        return rep

    def flush(self, wait: bool = True) -> None:
        self.writer.flush(wait)

    def close(self) -> None:
        self.writer.close()
        self.rings.close()
