"""How the supervisor watches a device node on another PC: by its heartbeats alone.

A remote node (``mestudio node``) has no process here to poll.  It is alive while it beats and has
not sent its final heartbeat; it reopens a failed device itself (mestudio/remote_restarts.py) and
says so in its heartbeats, from which each outage and restart goes on the session's timeline as a
local node's would, and each new clock estimate of its host too.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol

from mestudio.config.schema import SessionConfig
from mestudio.node_processes import Child
from mestudio.stream import messages, wire


class RemoteHost(Protocol):
    """What watching a remote node needs of the supervisor."""

    cfg: SessionConfig
    stop_requested: threading.Event
    restart_log: list[dict]
    recovered: list[str]

    def marker(self, topic: str, body: dict) -> None: ...

    def problem(self, text: str, fatal: bool = True) -> None: ...

    def fatal(self, child: Child) -> bool: ...

    def poll(self, timeout_s: float = 0.1) -> None: ...


def outage_number(report: object) -> int:
    """The number of a remote node's outage or restart report (untrusted: 0 when malformed)."""
    n = report.get("number") if isinstance(report, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0


class RemoteWatch:
    """The remote nodes' side of the supervisor's loop (heartbeats are taken by its poll)."""

    def __init__(self, host: RemoteHost) -> None:
        self.host = host

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
                host.problem(
                    f"{child.name} (remote device on {child.remote}) stopped before it was asked to"
                    + (f": {error}" if error else ""),
                    fatal=host.fatal(child),
                )
        elif now - child.last_beat > host.cfg.transport.heartbeat_timeout_s and not child.stopping:
            host.problem(
                f"{child.name} (remote device on {child.remote}) sent no heartbeat for "
                f"{now - child.last_beat:.1f} s: not responding (network, or its host)",
                fatal=host.fatal(child),
            )
            child.last_beat = now

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
