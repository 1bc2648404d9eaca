"""Operator actions: EVENT messages on topic ``command/<verb>`` PUSHed to the session's commands
endpoint.  The supervisor records each one in events.jsonl and re-broadcasts it to every node
(the recorder pauses and resumes writing, elicit pauses or skips, the supervisor ends the session
on ``stop-session``).  Never blocks the
window: with no supervisor listening (a replay) a command is refused, not queued forever.
"""

from __future__ import annotations

import os

import zmq

from mestudio.stream import messages, wire
from mestudio.stream.bus import Endpoints

VERBS = {
    "record-stop": "pause writing: the recorder keeps the session open and counts what it skips",
    "record-start": "resume writing",
    "mark": "mark an event on the timeline (stored as a marker)",
    "start": "start the elicitation protocol (it waits on its instructions)",
    "pause": "pause the elicitation protocol",
    "resume": "resume the elicitation protocol",
    "skip": "skip to the next step of the protocol",
    "stop-session": "stop recording and end the session",
}
PROTOCOL_VERBS = ("start", "pause", "resume", "skip")  # elicit/node.py acts on these


class CommandSender:
    def __init__(self, endpoints: Endpoints, context: zmq.Context, name: str = "monitor") -> None:
        self.name = f"{name}-{os.getpid()}"
        self.seq = 0
        self._sock = context.socket(zmq.PUSH)
        self._sock.linger = 500  # a command sent just before closing still goes out
        self._sock.sndhwm = 16
        self._sock.immediate = True  # refuse to send while no supervisor is connected
        endpoints.connect(self._sock, endpoints.commands)  # CURVE on a tcp session

    def send(self, verb: str, body: dict | None = None) -> bool:
        """Send ``command/<verb>``; False when no supervisor takes commands (e.g. a replay)."""
        if verb not in VERBS:
            raise ValueError(f"unknown operator command {verb!r}; known: {', '.join(VERBS)}")
        body = {
            "host_time_ns": wire.now_ns(),
            **({"target": "elicit"} if verb in PROTOCOL_VERBS else {}),
            **(body or {}),
        }
        parts = wire.json_parts(wire.Kind.EVENT, self.name, self.seq, body, topic=messages.command_topic(verb))
        try:
            wire.send(self._sock, parts, zmq.NOBLOCK)
        except zmq.Again:
            return False
        self.seq += 1
        return True

    def close(self) -> None:
        self._sock.close()
