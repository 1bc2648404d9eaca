"""Which process of a remote device node may write its streams: the supervisor's answer to a join.

A `mestudio node` process has a random ``instance`` token in its heartbeats and asks to join
(``joining``); it waits for the answer on the broadcast (``session/node-join``), sent again for each
of its join beats (PUB/SUB: an answer sent before it subscribed is lost).  The first to come is
admitted.  Another one waits while an admitted one lives: it is refused as soon as that one beats
again (two processes must not write one stream), and admitted once that one is dead: silent for
``heartbeat_timeout_s``, its last heartbeat sent, or named dead by the newcomer (``replaces``:
`mestudio node --keep-alive` saw it die).  A rejoin is a restart like a local one: once the
recorder has reported its streams after the death, the newcomer is told where its sequence numbers
go on (``seq_base``, the last recorded one + 1).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from mestudio.stream import messages

INSTANCE_RE = re.compile(messages.INSTANCE_PATTERN)
MAX_WAITING = 8  # joins waiting at once for one node (any more are ignored until one is answered)
MAX_ANSWERS = 64  # answers kept to be told again (the oldest are forgotten)


def instance_of(data: dict) -> str:
    """The instance token of a heartbeat ("" when it has none, or not a safe one: untrusted)."""
    inst = data.get("instance")
    return inst if isinstance(inst, str) and INSTANCE_RE.match(inst) else ""


def text_field(data: dict, key: str, limit: int = 200) -> str:
    value = data.get(key)
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


@dataclass
class Join:
    """A process asking to join while another holds the node's streams."""

    instance: str
    pid: int
    first_seen: float  # monotonic, when its first join beat came
    replaces: str = ""  # the instance it says is dead (its keeper saw it die)
    replaced_exit: str = ""  # how that one died, in the keeper's words
    noted: bool = False  # its wait is on the timeline


@dataclass
class Seat:
    """One remote device's admitted process, how it ended, and the processes waiting for its place."""

    instance: str = ""  # the admitted process ("" before the first join)
    dead_ns: int = 0  # session-host time its death was noticed (0 while it lives)
    why: str = ""  # how it died, as the timeline says
    down_marked: bool = False  # its node-down is on the timeline
    problems: list[str] = field(default_factory=list)  # how its death was reported (made good by a rejoin)
    published: bool = False  # the admitted process said it is ready (its device was open)
    waiting: dict[str, Join] = field(default_factory=dict)
    answers: dict[str, dict] = field(default_factory=dict)  # instance -> the answer it was given
    refused_logged: set[str] = field(default_factory=set)

    def answer(self, instance: str, body: dict) -> None:
        self.answers[instance] = body
        while len(self.answers) > MAX_ANSWERS:
            del self.answers[next(k for k in self.answers if k != self.instance)]

    def join(self, data: dict, instance: str) -> Join | None:
        """The waiting join of ``instance`` (noted at its first join beat; None past MAX_WAITING)."""
        j = self.waiting.get(instance)
        if j is None:
            if len(self.waiting) >= MAX_WAITING:
                return None
            pid = data.get("pid")
            j = Join(
                instance,
                pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
                time.monotonic(),
                replaces=instance_of({"instance": data.get("replaces")}),
                replaced_exit=text_field(data, "replaced_exit"),
            )
            self.waiting[instance] = j
        return j
