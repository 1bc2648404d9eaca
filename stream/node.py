"""What a child process of a session is given: config, session folder, endpoints, a stop flag.

The supervisor starts each node as its own process.  A node runs until ``ctx.stop`` is set
(SIGTERM from the supervisor, or its parent dying) and reports on the control channel:
``ctx.heartbeat({...})`` sets the status a background thread sends every ``heartbeat_s``.
A call the node makes inside ``with ctx.watched("what"):`` that does not return within the
supervisor's heartbeat timeout stops the heartbeats: the process is alive but stuck (a driver call
that never returns), and the supervisor kills and restarts it like a dead one.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from mestudio.config.schema import SessionConfig
from mestudio.stream import messages, wire
from mestudio.stream.bus import Endpoints, Publisher, Subscriber
from mestudio.stream.curve import stop_authenticator

# set by the supervisor for a node it starts again after a death: JSON {"restart": n,
# "seq_base": {stream: first seq to use}, "frames_before": {stream: frames recorded so far}}
RESTART_ENV = "MESTUDIO_RESTART"


@dataclass
class NodeContext:
    name: str
    role: str
    config: SessionConfig
    session_dir: Path
    endpoints: Endpoints
    stop: threading.Event = field(default_factory=threading.Event)
    zmq: zmq.Context = field(default_factory=zmq.Context)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("mestudio"))
    config_dir: Path = Path(".")  # where the session file was: its relative paths start here
    restart: dict[str, Any] = field(default_factory=dict)  # empty on a first start (see RESTART_ENV)
    # ns to add to this host's monotonic clock to get the session host's: 0 on the session's host;
    # a remote device node keeps it at the offset sync/hostclock measures (mestudio/remote.py)
    host_offset_ns: int = 0

    def now_ns(self) -> int:
        """This moment on the session host's clock."""
        return wire.now_ns() + self.host_offset_ns

    _status: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _closing: threading.Event = field(default_factory=threading.Event)
    _watched: tuple[str, float, int] | None = None  # (what, since monotonic, thread id) of the call under watch

    @contextmanager
    def watched(self, what: str) -> Iterator[None]:
        """Mark a call that must return (a device read): stuck in it, the node stops beating."""
        self._watched = (what, time.monotonic(), threading.get_ident())
        try:
            yield
        finally:
            self._watched = None

    def stuck_for(self) -> tuple[str, float, int] | None:
        """(what, seconds, thread) while a watched call has run past its limit, else None."""
        w = self._watched
        # as long as the supervisor waits for a beat: a stall that passes costs fewer frames than a restart
        limit = self.config.transport.heartbeat_timeout_s
        if w is None or time.monotonic() - w[1] <= limit:
            return None
        return w[0], time.monotonic() - w[1], w[2]

    def resolve(self, path: str | Path) -> Path:
        """A path from the config, made absolute against the config file's own folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.config_dir / p).resolve()

    # -- sending and receiving ------------------------------------------------------------
    def publisher(self, record: bool = True, **kw) -> Publisher:
        t = self.config.transport
        kw.setdefault("shared_memory_mb", t.shared_memory_mb if t.shared_memory else 0)
        return Publisher(self.zmq, self.endpoints, self.name, record=record, viewer_hwm=t.viewer_hwm, **kw)

    def subscriber(
        self, topics: list[str] | None = None, producers: list[str] | None = None, hwm: int | None = None
    ) -> Subscriber:
        return Subscriber(self.zmq, self.endpoints, topics, producers, hwm or self.config.transport.viewer_hwm)

    # -- reporting ------------------------------------------------------------------------
    def heartbeat(self, status: dict[str, Any]) -> None:
        """Merge ``status`` into what the next heartbeats carry."""
        with self._lock:
            self._status.update(status)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    def start_reporting(self) -> None:
        """Handle SIGTERM, watch the parent, and send heartbeats until stop."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        # Ctrl-C goes to the whole process group; the supervisor decides the order of stopping
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        parent = os.getppid()
        t = threading.Thread(target=self._report, args=(parent,), name=f"{self.name}-heartbeat", daemon=True)
        t.start()
        self._threads.append(t)

    def _report(self, parent: int) -> None:
        sock = self.zmq.socket(zmq.PUSH)
        sock.linger = 500
        sock.sndhwm = 10
        self.endpoints.connect(sock, self.endpoints.control)
        seq = 0
        period = self.config.transport.heartbeat_s
        reported_stuck = False
        try:
            while True:
                closing = self._closing.wait(period)
                if os.getppid() != parent:  # the supervisor died: stop cleanly rather than orphaned
                    self.stop.set()
                stuck = None if closing else self.stuck_for()
                if stuck is not None:  # silence tells the supervisor; the log tells the lab where
                    if not reported_stuck:
                        self.log.error(
                            "%s: %s has not returned for %.1f s; stuck in:\n%s",
                            self.name,
                            *stuck[:2],
                            _stack_of(stuck[2]),
                        )
                        reported_stuck = True
                    continue
                with self._lock:
                    status = {**self._status, "final": True} if closing else dict(self._status)
                try:
                    body = messages.Heartbeat(**{**status, "name": self.name, "role": self.role, "pid": os.getpid()})
                except ValueError as e:  # our own status broke the model: still beat, and say why
                    body = messages.Heartbeat(name=self.name, role=self.role, pid=os.getpid(), error=str(e)[:200])
                try:
                    wire.send(
                        sock,
                        wire.json_parts(
                            wire.Kind.HEARTBEAT, self.name, seq, body.to_wire(), topic=messages.control_topic(self.name)
                        ),
                        zmq.NOBLOCK,
                    )
                except zmq.Again:
                    pass
                seq += 1
                if closing:
                    return
        finally:
            sock.close()

    def close(self) -> None:
        """Send the last heartbeat, then close every socket (each with its own linger)."""
        self.stop.set()
        self._closing.set()
        for t in self._threads:
            t.join(timeout=2)
        stop_authenticator(self.zmq)
        self.zmq.destroy()


def _stack_of(thread_id: int) -> str:
    frame = sys._current_frames().get(thread_id)
    return "".join(traceback.format_stack(frame)) if frame is not None else "(thread gone)"
