"""A remote device node that survives its device: the device is reopened, the node goes on.

On the recording PC the supervisor restarts a dead device node as a new process.  A remote node
runs on another PC, so it does that itself: the device loop (capture/node.py) runs on a thread of
its own, one *attempt* per open; when an attempt raises, or stays inside a watched driver call
longer than ``[transport] heartbeat_timeout_s`` (a hung driver: that thread is abandoned, as the
supervisor kills a hung local process), the node waits the session's backoff (``[session]
restarts``, ``restart_backoff_s`` doubling up to ``restart_backoff_max_s``) and opens the device
again.  Sequence numbers go on after the last one it published, and its END counts include every
attempt's frames.  The node's heartbeats keep coming throughout, and say what happened:
``outage`` (the device is down, a restart is due) and ``restart_log`` (the last restarts made,
numbered), from which the supervisor puts the same ``session/node-down`` / ``session/node-restarted``
markers on the timeline as for a local node, and verify measures the outage.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any, cast

import zmq

from mestudio.remote_join import ViewerPortError
from mestudio.stream import messages, wire
from mestudio.stream.node import NodeContext

RESTARTS_REPORTED = 8  # the heartbeats carry the last few restarts: a lost beat loses none of them


class _GuardedPublisher:
    """An attempt's view of the node's one publisher (its viewer socket stays bound across attempts:
    an abandoned attempt still holds whatever it opened).  It notes the last sequence number sent per
    stream, and sends nothing once its attempt was abandoned (a hung read that returns late must not
    publish stale frames); closing it is the node's business, at the end."""

    def __init__(self, pub: Any, attempt: Attempt) -> None:
        self._pub = pub
        self._attempt = attempt

    def send(self, parts: list) -> bool:
        with self._attempt.lock:  # abandon() takes it: after that, no send touches the socket
            if self._attempt.abandoned.is_set():
                return False
            ok = bool(self._pub.send(parts))
        if ok:
            hdr = wire.Header.unpack(parts[1])
            if hdr.kind == wire.Kind.FRAME:
                self._attempt.last_seq[hdr.stream_id] = hdr.seq
                self._attempt.sent[hdr.stream_id] = self._attempt.sent.get(hdr.stream_id, 0) + 1
        return ok

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pub, name)


class Attempt:
    """The node's context as one open of the device sees it: its own stop flag, restart info and
    watched call; everything else (sockets, clock offset, config) is the node's."""

    def __init__(self, node: NodeContext, restart: dict[str, Any], pub: Any) -> None:
        self._node = node
        self._pub = pub
        self.stop = threading.Event()
        self.abandoned = threading.Event()
        self.lock = threading.Lock()
        self.restart = restart
        self._watched: tuple[str, float, int] | None = None
        self.last_seq: dict[str, int] = {}
        self.sent: dict[str, int] = {}  # frames this attempt published, per stream
        self.error: BaseException | None = None
        self.frames_before: dict[str, int] = {str(k): int(v) for k, v in (restart.get("frames_before") or {}).items()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def watched(self, what: str) -> AbstractContextManager[None]:
        """As NodeContext.watched, but watched by the keeper, not by the heartbeats (they go on)."""
        return NodeContext.watched(cast(NodeContext, self), what)

    def stuck_for(self) -> tuple[str, float, int] | None:
        return NodeContext.stuck_for(cast(NodeContext, self))

    def publisher(self, record: bool = True, **kw: Any) -> Any:
        return _GuardedPublisher(self._pub, self)

    def abandon(self) -> None:
        self.stop.set()
        with self.lock:
            self.abandoned.set()

    def heartbeat(self, status: dict[str, Any]) -> None:
        """The node's heartbeat, with each stream's frames counted over all attempts."""
        if self.abandoned.is_set():
            return
        streams = status.get("streams")
        if isinstance(streams, dict):
            status = {
                **status,
                "streams": {
                    sid: {**v, "frames": int(v.get("frames", 0)) + self.frames_before.get(sid, 0)}
                    for sid, v in streams.items()
                },
            }
        self._node.heartbeat(status)


def _run_attempt(attempt: Attempt) -> None:
    from mestudio.capture import node as device_node  # only this process needs the capture stage

    try:
        device_node.run(cast(NodeContext, attempt))
    except Exception as e:  # the device's failure: the keeper reports it and reopens the device
        attempt.error = e


def keep_device_running(ctx: NodeContext, start: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the device until ``ctx.stop``, reopening it after each failure within the session's
    limits; returns the last failure (``{}`` when it stopped as asked).  ``start``: where a process
    that rejoined a session goes on (restart number, ``seq_base``, ``frames_before``)."""
    try:
        pub = ctx.publisher()
    except zmq.ZMQError as e:  # its port is taken: most likely by a frozen process of this node
        where = ctx.endpoints.pubs.get(ctx.name, "?")
        raise ViewerPortError(
            f"cannot bind this node's viewer port {where}: {e.strerror} (another process holds it: one of "
            f"{ctx.name!r} still running, frozen, on this PC, or another program; stop it first)"
        ) from None
    try:
        return _keep(ctx, pub, start or {})
    finally:
        pub.close()


def _keep(ctx: NodeContext, pub: Any, start: dict[str, Any]) -> dict[str, Any]:
    sess = ctx.config.session
    restarts: list[dict[str, Any]] = []
    seq_base: dict[str, int] = {str(k): int(v) for k, v in (start.get("seq_base") or {}).items()}
    info: dict[str, Any] = dict(start)
    number = int(start.get("restart", 0))  # a rejoined process counts on from the session's restarts
    while True:
        attempt = Attempt(ctx, info, pub)
        thread = threading.Thread(target=_run_attempt, args=(attempt,), name=f"{ctx.name}-device", daemon=True)
        thread.start()
        why = _watch(ctx, attempt, thread)
        if attempt.abandoned.is_set():  # it will never send its END: say what it published for it
            _send_ends(ctx, pub, attempt, number)
        if ctx.stop.is_set():  # asked to stop: a device failing as it stops loses nothing more
            return {}
        if not why:
            why = "its device loop ended before the node was asked to stop"
        died_ns = ctx.now_ns()
        for sid, seq in attempt.last_seq.items():
            seq_base[sid] = seq + 1
        frames = {sid: attempt.frames_before.get(sid, 0) + attempt.sent.get(sid, 0) for sid in seq_base}
        if number >= sess.restarts or sess.stop_on_node_failure:
            limit = f" (restarts used: {number} of {sess.restarts})"
            ctx.heartbeat({"error": f"device failed: {why}{limit}"[:500], "outage": None})
            return {"exit": why, "restarts": number}
        backoff = min(sess.restart_backoff_s * 2**number, sess.restart_backoff_max_s)
        number += 1
        outage = {"number": number, "exit": why[:300], "died_host_ns": died_ns, "restart_in_s": round(backoff, 3)}
        ctx.heartbeat({"outage": outage})
        print(f"mestudio node {ctx.name}: device failed ({why}); reopening in {backoff:.1f} s", flush=True)
        if ctx.stop.wait(backoff):
            ctx.heartbeat({"outage": None})
            return {}
        info = {"restart": number, "seq_base": dict(seq_base), "frames_before": frames}
        entry = {"number": number, "exit": why[:300], "died_host_ns": died_ns, **info}
        restarts = (restarts + [entry])[-RESTARTS_REPORTED:]
        # one update: the supervisor sees the outage end and the restart in the same heartbeat
        ctx.heartbeat({"restart_log": restarts, "restarts": number, "outage": None})


def _send_ends(ctx: NodeContext, pub: Any, attempt: Attempt, number: int) -> None:
    frames = {sid: attempt.frames_before.get(sid, 0) + n for sid, n in attempt.sent.items()}
    frames = {**attempt.frames_before, **frames}
    for i, (sid, n) in enumerate(frames.items()):
        body = {**messages.EndBody(frames=n).to_wire(), "restart": number}
        pub.send(wire.json_parts(wire.Kind.END, sid, i, body, topic=messages.end_topic(sid), host_time_ns=ctx.now_ns()))
    ctx.heartbeat({"streams": {sid: {"frames": n} for sid, n in frames.items()}})


def _watch(ctx: NodeContext, attempt: Attempt, thread: threading.Thread) -> str:
    """Wait for one attempt to end; why it failed, or "" when it stopped on ``ctx.stop``."""
    while thread.is_alive():
        if ctx.stop.is_set():
            attempt.stop.set()
            thread.join(timeout=max(2.0, ctx.config.transport.heartbeat_timeout_s))
            if thread.is_alive():  # stuck in the driver while stopping: leave it, the process ends
                attempt.abandon()
            return ""
        stuck = attempt.stuck_for()
        if stuck is not None:
            attempt.abandon()
            return f"{stuck[0]} did not return for {stuck[1]:.1f} s (hung), so the device was abandoned"
        thread.join(timeout=0.1)
    if attempt.error is not None:
        e = attempt.error
        return f"{type(e).__name__}: {e}"
    return ""
