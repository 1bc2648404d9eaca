"""How the supervisor watches a device node on another PC: by its heartbeats alone.

A remote node (``mestudio node``) has no process here to poll.  It is alive while it beats and has
not sent its final heartbeat; it reopens a failed device itself (mestudio/remote_restarts.py) and
says so in its heartbeats, from which each outage and restart goes on the session's timeline as a
local node's would, and each new clock estimate of its host too.  Which of its processes may write
its streams (one at a time; a process started again rejoins where the recording stopped) is
decided here too (mestudio/remote_admission.py).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol

from mestudio.config.schema import SessionConfig
from mestudio.node_processes import Child, continuation, recorder_caught_up
from mestudio.remote_admission import Join, Seat, instance_of
from mestudio.stream import messages, wire


class RemoteHost(Protocol):
    """What watching a remote node needs of the supervisor."""

    cfg: SessionConfig
    children: dict[str, Child]
    stop_requested: threading.Event
    restart_log: list[dict]
    recovered: list[str]

    def marker(self, topic: str, body: dict) -> None: ...

    def broadcast(self, topic: str, body: dict) -> None: ...

    def problem(self, text: str, fatal: bool = True) -> None: ...

    def fatal(self, child: Child) -> bool: ...

    def poll(self, timeout_s: float = 0.1) -> None: ...


def outage_number(report: object) -> int:
    """The number of a remote node's outage or restart report (untrusted: 0 when malformed)."""
    n = report.get("number") if isinstance(report, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0


AGAIN = "; its streams go on when `mestudio node` runs again there"


class RemoteWatch:
    """The remote nodes' side of the supervisor's loop (heartbeats are taken by its poll)."""

    def __init__(self, host: RemoteHost) -> None:
        self.host = host
        self.seats: dict[str, Seat] = {}

    # -- heartbeats and joins ---------------------------------------------------------------
    def beat(self, child: Child, data: dict) -> None:
        """A heartbeat from a process of the remote node ``child``: the admitted one's is taken,
        another's is a request to join (answered, never merged into the node's status)."""
        seat = self.seats.setdefault(child.name, Seat())
        inst = instance_of(data)
        if inst and inst != seat.instance:
            if seat.answers.get(inst, {}).get("admitted"):
                # a process this node replaced, beating again (it was silent, not dead): it must not
                # write the streams its successor now writes
                body = {"nodes": [child.name], "instance": inst}
                self.host.broadcast(messages.SESSION_STOP_REMOTE, body)
                return
            if not data.get("joining"):
                return  # not admitted and not asking (yet): none of the session's business
            if inst in seat.answers:  # refused: told again (it may have missed the answer)
                self.host.broadcast(messages.SESSION_NODE_JOIN, seat.answers[inst])
                return
            if not seat.instance:  # the first process to come has the node's streams
                self._admit(child, seat, inst, {"restart": 0, "seq_base": {}, "frames_before": {}})
            else:
                j = seat.join(data, inst)
                if j is not None:
                    self._waiting(child, seat, j)
                return
        self._take(child, data)
        if seat.dead_ns and not seat.waiting and not child.status.get("final"):
            # silent, not dead (a stalled network or PC): it goes on, nothing was restarted
            print(f"mestudio: {child.name} (remote) beats again", file=sys.stderr, flush=True)
            self.host.recovered.extend(seat.problems)
            seat.dead_ns, seat.problems = 0, []
        if seat.waiting and not seat.dead_ns and not child.status.get("final"):
            # the admitted process beats while others wait: it lives, so they are refused
            for j in list(seat.waiting.values()):
                self._refuse(child, seat, j, self._alive_text(child))
        if inst and data.get("joining") and inst in seat.answers:
            self.host.broadcast(messages.SESSION_NODE_JOIN, seat.answers[inst])

    def _take(self, child: Child, data: dict) -> None:
        if isinstance(data.get("clock"), dict):
            self.clock(child, data["clock"])
        child.status.update(data)
        if data.get("ready"):
            self.seats.setdefault(child.name, Seat()).published = True
        child.last_beat = time.monotonic()
        child.beats += 1

    def running(self, child: Child) -> bool:
        """Whether an admitted process of this node may still be running (asked to stop with the session)."""
        seat = self.seats.get(child.name)
        if self.death(child):
            return False
        if child.alive:
            return True
        return bool(seat and seat.instance and not child.status.get("final") and not child.exit_reason)

    def death(self, child: Child) -> str:
        """How its admitted process died, while no other has taken its place ("" when it lives)."""
        seat = self.seats.get(child.name)
        if not seat or not seat.instance or child.status.get("final"):
            return ""
        if seat.dead_ns:
            return f"died on its host: {seat.why}"
        silent = time.monotonic() - child.last_beat
        if silent > self.host.cfg.transport.heartbeat_timeout_s:  # before it said it was ready, too
            return f"died on its host: sent no heartbeat for {silent:.1f} s"
        return ""

    def refuse_waiting(self, child: Child) -> None:
        """The session is stopping: whoever still waits to join is told so (it has lost nothing)."""
        seat = self.seats.setdefault(child.name, Seat())
        for j in list(seat.waiting.values()):
            self._refuse(child, seat, j, "the session is stopping", stopping=True)

    def _alive_text(self, child: Child) -> str:
        pid, t = child.status.get("pid", "?"), self.host.cfg.transport.heartbeat_timeout_s
        return (
            f"a node named {child.name!r} is already running in this session (pid {pid} on {child.remote}, "
            f"heartbeat {time.monotonic() - child.last_beat:.1f} s ago): two processes must not write one "
            f"stream; stop that one first (a dead one is replaced {t:g} s after its last heartbeat)"
        )

    def _refuse(self, child: Child, seat: Seat, j: Join, why: str, stopping: bool = False) -> None:
        seat.waiting.pop(j.instance, None)
        body = {"node": child.name, "instance": j.instance, "refused": why[:500], "stopping": stopping}
        seat.answer(j.instance, body)
        self.host.broadcast(messages.SESSION_NODE_JOIN, body)
        if j.instance not in seat.refused_logged:
            seat.refused_logged.add(j.instance)
            self.host.marker(messages.SESSION_NODE_REFUSED, {"node": child.name, "pid": j.pid, "why": why[:500]})
            if not stopping:
                text = f"mestudio: refused a second {child.name} node (pid {j.pid}): {why}"
                print(text, file=sys.stderr, flush=True)

    def _waiting(self, child: Child, seat: Seat, j: Join) -> None:
        """A join while another process holds the streams: admitted once that one is dead."""
        host = self.host
        if host.stop_requested.is_set() or child.stopping:
            self._refuse(child, seat, j, "the session is stopping", stopping=True)
            return
        if not seat.dead_ns:
            silent, t = time.monotonic() - child.last_beat, host.cfg.transport
            # named dead by its keeper: taken for dead once it missed two beats (a live one beats,
            # and its beat refuses the newcomer)
            if j.replaces and j.replaces == seat.instance and silent > 2 * t.heartbeat_s:
                why = f"process {j.replaced_exit or 'died'}; its keeper started it again"
                self._dead(child, seat, why, then="")
            elif child.status.get("final"):
                self._dead(child, seat, child.exit_reason or "stopped on its host", report=False)
            elif silent > t.heartbeat_timeout_s:
                self._dead(child, seat, f"sent no heartbeat for {silent:.1f} s")
            else:  # alive as far as we know: refused at its next beat, or admitted when silent
                if not j.noted:
                    j.noted = True
                    body = {"node": child.name, "pid": j.pid, "last_beat_s": round(silent, 3)}
                    self.host.marker(messages.SESSION_NODE_WAITING, body)
                return
        if not recorder_caught_up(host.children, seat.dead_ns):
            return  # its sequence numbers go on from the last one recorded: wait for that report
        seat.waiting.pop(j.instance, None)
        if not seat.published:  # the dead one never opened its device: this is the node's first start
            self._admit(child, seat, j.instance, {"restart": 0, "seq_base": {}, "frames_before": {}})
            return
        number = max([child.restarts + 1, *child.remote_down])
        self._admit(child, seat, j.instance, continuation(host.cfg, host.children, child.name, number))

    def _dead(self, child: Child, seat: Seat, why: str, report: bool = True, then: str = AGAIN) -> None:
        """The admitted process is gone: on the timeline at once (node-down), reported once."""
        seat.dead_ns, seat.why = wire.now_ns(), why
        # (an outage it reported covers this one; one that never published has no outage)
        if not seat.down_marked and not child.remote_down and seat.published:
            seat.down_marked = True
            self.host.marker(
                messages.SESSION_NODE_DOWN,
                {"node": child.name, "role": child.role, "exit": why, "host": child.remote, "rejoin": True},
            )
        if report:
            text = f"{child.name} (remote device on {child.remote}) {why}{then}"
            seat.problems.append(text)
            self.host.problem(text, fatal=self.host.fatal(child))

    def _admit(self, child: Child, seat: Seat, inst: str, info: dict) -> None:
        """``inst`` now holds the node's streams; a rejoin goes on the timeline as a restart."""
        host = self.host
        body = {"node": child.name, "instance": inst, "admitted": True, **info}
        seat.instance = inst
        seat.answer(inst, body)
        host.broadcast(messages.SESSION_NODE_JOIN, body)
        if seat.dead_ns:  # it replaces a dead one: whose status and death are history now
            host.recovered.extend(seat.problems + list(child.remote_down.values()))
            if info["restart"]:  # that one had published: its streams go on, a restart on the timeline
                entry = {"node": child.name, "exit": seat.why or child.exit_reason, "rejoined": True, **info}
                entry.update(down_s=round((wire.now_ns() - seat.dead_ns) / 1e9, 3), died_host_ns=seat.dead_ns)
                host.restart_log.append(entry)
                host.marker(messages.SESSION_NODE_RESTARTED, entry)
                seq = ", ".join(f"{sid} from seq {n}" for sid, n in info["seq_base"].items())
                print(f"mestudio: {child.name} (remote) rejoined (restart {info['restart']}): {seq}", file=sys.stderr)
                child.restarts = info["restart"]
            child.remote_down.clear()
            child.status, child.exit_reason, child.beats = {}, "", 0
            child.last_beat = time.monotonic()
        seat.dead_ns, seat.down_marked, seat.problems, seat.published = 0, False, [], False

    def wait(self, child: Child, timeout_s: float) -> bool:
        """Until the node connected and said it is ready (False: not within ``timeout_s``)."""
        host = self.host
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and not host.stop_requested.is_set():
            host.poll(0.05)
            if child.status.get("ready"):
                return True
        return False

    def watch(self, child: Child, now: float) -> None:
        """A remote node is known by its heartbeats: its last one, or none for too long."""
        seat = self.seats.setdefault(child.name, Seat())
        for j in list(seat.waiting.values()):
            self._waiting(child, seat, j)
        silent = now - child.last_beat
        if (
            seat.instance
            and not seat.dead_ns
            and not child.status.get("ready")
            and not child.status.get("final")
            and not child.exit_reason
            and not child.stopping
            and silent > self.host.cfg.transport.heartbeat_timeout_s
        ):  # admitted, then silent before its device was open (its heartbeats run from its start)
            self._dead(child, seat, f"sent no heartbeat for {silent:.1f} s before its device was open")
        if child.status.get("final") and not child.status.get("ready") and not child.exit_reason:
            # it ended before its device was open (joined, then failed to bind its port, say)
            child.exit_reason = "stopped" if child.stopping else "stopped on its host before its device was open"
            if not child.stopping:
                text = f"{child.name} (remote device on {child.remote}) {child.exit_reason}"
                seat.problems.append(text)  # made good if another process rejoins
                self.host.problem(text, fatal=self.host.fatal(child))
        if not child.status.get("ready") or child.exit_reason:
            return
        host = self.host
        self._restarts(child)
        if child.status.get("final"):
            child.exit_reason = "stopped" if child.stopping else "stopped on its host"
            error = child.status.get("error")
            if error and not child.stopping:
                child.exit_reason = "failed on its host"
            if not child.stopping:
                text = f"{child.name} (remote device on {child.remote}) stopped before it was asked to" + (
                    f": {error}" if error else ""
                )
                seat = self.seats.setdefault(child.name, Seat())
                seat.problems.append(text)  # made good if it rejoins
                host.problem(text, fatal=host.fatal(child))
        elif now - child.last_beat > host.cfg.transport.heartbeat_timeout_s and not child.stopping:
            seat = self.seats.setdefault(child.name, Seat())
            if not seat.dead_ns:  # once per outage: it rejoins when its node runs again
                self._dead(child, seat, f"sent no heartbeat for {now - child.last_beat:.1f} s: not responding")

    def clock(self, child: Child, clock: dict) -> None:
        """Each new clock estimate of a remote host goes on the timeline, as applied to its frames."""
        if clock != child.status.get("clock"):
            self.host.marker(messages.SESSION_REMOTE_CLOCK, {"node": child.name, "host": child.remote, **clock})

    def _restarts(self, child: Child) -> None:
        """Each restart the node reports, once: on the timeline, in the manifest, its outage made good."""
        host = self.host
        log = child.status.get("restart_log")
        entries = [e for e in log if outage_number(e)] if isinstance(log, list) else []
        for e in sorted(entries, key=outage_number):
            if outage_number(e) <= child.restarts or not isinstance(e.get("died_host_ns"), int):
                continue
            self._down(child, e)
            child.restarts = outage_number(e)
            entry = {"node": child.name, **{k: e.get(k) for k in ("exit", "restart", "seq_base", "frames_before")}}
            entry.update(down_s=round((wire.now_ns() - e["died_host_ns"]) / 1e9, 3), died_host_ns=e["died_host_ns"])
            host.restart_log.append(entry)
            host.recovered.append(child.remote_down.pop(child.restarts, ""))
            host.marker(messages.SESSION_NODE_RESTARTED, entry)
            text = f"mestudio: {child.name} (remote) reopened its device (restart {child.restarts})"
            print(text, file=sys.stderr, flush=True)
        outage = child.status.get("outage")
        if isinstance(outage, dict) and outage_number(outage) > child.restarts:
            self._down(child, outage)

    def _down(self, child: Child, outage: dict) -> None:
        number = outage_number(outage)
        if number in child.remote_down or number <= child.restarts:
            return
        why, backoff = " ".join(str(outage.get("exit", "?")).split())[:300], outage.get("restart_in_s")
        backoff = float(backoff) if isinstance(backoff, int | float) else 0.0
        text = (
            f"{child.name} (remote device on {child.remote}) failed: {why}; reopening "
            f"in {backoff:.1f} s (restart {number} of {self.host.cfg.session.restarts})"
        )
        child.remote_down[number] = text
        body = {"node": child.name, "role": child.role, "exit": why, "restart_in_s": backoff}
        self.host.marker(messages.SESSION_NODE_DOWN, body)
        self.host.problem(text, fatal=False)
