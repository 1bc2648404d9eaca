"""A remote device node's side of joining a session (mestudio/remote_admission.py is the supervisor's).

Each `mestudio node` process has its own random ``instance`` token in its heartbeats.  Before it
opens its device it asks to join (``joining``) and waits for the supervisor's answer on the
broadcast: admitted (with where its sequence numbers go on when it rejoins a running session),
or refused (another process of that name is alive, or the session is stopping).  The same
listener stops the node when the session asks it to (``session/stop-remote``).
"""

from __future__ import annotations

import secrets
import threading
import time

import zmq

from mestudio.stream import messages, wire
from mestudio.stream.errors import WireFormatError
from mestudio.stream.node import NodeContext


class NodeRefusedError(PermissionError):
    """The session refused this process: another one of that name is alive, or it is stopping."""

    def __init__(self, text: str, stopping: bool = False) -> None:
        super().__init__(text)
        self.stopping = stopping


class ViewerPortError(OSError):
    """This node's viewer port is taken on this PC (another process of the node, frozen, holds it)."""


class JoinTimeoutError(TimeoutError):
    """The session answered the clock but not the join within the wait."""


def new_instance() -> str:
    """A token that names one process of a node (unguessable, so no other can answer for it)."""
    return secrets.token_hex(8)


class Broadcasts:
    """The node's ear on the session's broadcast: the answer to its join, and the stop request."""

    def __init__(self, ctx: NodeContext, instance: str) -> None:
        self.ctx = ctx
        self.instance = instance
        self.answer: messages.JoinAnswer | None = None
        self.answered = threading.Event()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._listen, name="remote-broadcast", daemon=True)

    def start(self) -> None:
        self.thread.start()
        self._ready.wait(5)

    def _listen(self) -> None:
        ctx = self.ctx
        sub = ctx.zmq.socket(zmq.SUB)
        sub.linger = 0
        for topic in (messages.SESSION_STOP_REMOTE, messages.SESSION_NODE_JOIN):
            sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        ctx.endpoints.connect(sub, ctx.endpoints.broadcast)
        self._ready.set()
        try:
            while not ctx.stop.is_set():
                if sub.poll(200):
                    self._take(sub)
        finally:
            sub.close()

    def _take(self, sub: zmq.Socket) -> None:
        try:
            msg = wire.recv(sub)
            body = messages.parse_body(msg.topic, msg.data)
        except (ValueError, WireFormatError):
            return  # not for us to die of
        data = msg.data
        if msg.topic == messages.SESSION_STOP_REMOTE:
            nodes, inst = data.get("nodes"), data.get("instance")
            if isinstance(nodes, list) and self.ctx.name in nodes and inst in (None, self.instance):
                self.ctx.stop.set()
        elif isinstance(body, messages.JoinAnswer) and body.node == self.ctx.name and body.instance == self.instance:
            if self.answer is None:
                self.answer = body
                self.answered.set()


def join_session(
    ctx: NodeContext, ear: Broadcasts, wait_s: float, replaces: str = "", replaced_exit: str = ""
) -> messages.JoinAnswer | None:
    """Ask to join until answered; the answer when admitted, None when stopped while waiting."""
    ask = {"instance": ear.instance, "joining": True}
    if replaces:
        ask.update(replaces=replaces, replaced_exit=replaced_exit[:200])
    ctx.heartbeat(ask)
    end = time.monotonic() + wait_s
    while not ear.answered.wait(0.1):
        if ctx.stop.is_set():
            return None
        if time.monotonic() >= end:
            raise JoinTimeoutError(
                f"the session at {ctx.endpoints.control} did not answer this node's join within {wait_s:.0f} s"
            )
    ans = ear.answer
    assert ans is not None
    ctx.heartbeat({"joining": False, "replaces": None, "replaced_exit": None})
    if not ans.admitted:
        raise NodeRefusedError(f"refused by the session: {ans.refused or 'no reason given'}", stopping=ans.stopping)
    return ans


def restart_info(ans: messages.JoinAnswer) -> dict:
    """What the device loop needs to go on where the recording stopped ({} on a first join)."""
    if not ans.restart:
        return {}
    return {"restart": ans.restart, "seq_base": dict(ans.seq_base), "frames_before": dict(ans.frames_before)}
