"""The supervisor's bookkeeping of its node processes: one ``Child`` each, how it ended, its restarts.

A node process is watched by its exit code and its heartbeats.  A device node that dies (or hangs
and is killed) is started again, ``[session] restarts`` times at most, after a backoff that doubles
from ``restart_backoff_s`` up to ``restart_backoff_max_s``.  The new process waits for a recorder
report made after the death, so that its sequence numbers go on from the last one recorded;
``verify`` and the timeline account for the gap.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mestudio.config.schema import SessionConfig, stream_ids
from mestudio.stream import messages, wire

# a dead node's last messages reach the recorder well within this; its restart waits for a recorder
# report made after it, so that sequence numbers go on from the last one recorded
RECORDER_SETTLE_NS = 300_000_000
STARTUP_GRACE_S = 30.0  # a new node process may take this long to send its first heartbeat


@dataclass
class Child:
    name: str
    role: str
    log_path: Path
    proc: subprocess.Popen | None = None
    status: dict = field(default_factory=dict)
    last_beat: float = 0.0
    exit_reason: str = ""
    stopping: bool = False
    restarts: int = 0  # how many times this node was started again after dying
    beats: int = 0  # heartbeats received from this process
    remote: str = ""  # the host of a remote device node (`mestudio node` runs it there)
    hung: str = ""  # why the supervisor killed it while it was alive (it stopped responding)
    remote_down: dict[int, str] = field(default_factory=dict)  # a remote node's outages not yet made good

    @property
    def alive(self) -> bool:
        if self.remote:  # known by its heartbeats only: connected, and no final heartbeat yet
            return bool(self.status.get("ready")) and not self.status.get("final") and not self.exit_reason
        return self.proc is not None and self.proc.poll() is None


@dataclass
class PendingRestart:
    child: Child
    due: float  # monotonic time the restart may start
    died_ns: int  # host clock when the death was noticed
    number: int  # 1 for the first restart of this node
    problem: str = ""  # how the death was reported: made good once the node is started again


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def last_error_line(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    for line in reversed(lines[-50:]):
        if line.startswith("ERROR "):
            return line[6:]
    return lines[-1] if lines else ""


def recorder_caught_up(children: dict[str, Child], since_ns: int) -> bool:
    """Whether the recorder reported its streams after everything sent before ``since_ns`` arrived."""
    rec = children.get("recorder")
    if rec is None or not rec.alive:
        return True  # nothing is being recorded: there is nothing to go on from
    return int(rec.status.get("status_ns", 0)) >= since_ns + RECORDER_SETTLE_NS


def continuation(cfg: SessionConfig, children: dict[str, Child], device: str, number: int) -> dict:
    """What a restarted device node needs to go on where the recording stopped: its restart number,
    each stream's next sequence number and the frames recorded so far (the recorder's last report)."""
    recorded = children["recorder"].status.get("streams", {}) if "recorder" in children else {}
    spec = next(d for d in cfg.enabled_devices if d.name == device)
    seq_base, frames_before = {}, {}
    for sid in stream_ids(spec):
        r = recorded.get(sid, {})
        seq_base[sid] = int(r["last_seq"]) + 1 if r.get("last_seq") is not None else 0
        frames_before[sid] = int(r.get("frames", 0))
    return {"restart": number, "seq_base": seq_base, "frames_before": frames_before}


class NodesHost(Protocol):
    """What watching and restarting the node processes needs of the supervisor."""

    cfg: SessionConfig
    children: dict[str, Child]
    stop_requested: threading.Event
    restart_log: list[dict]  # every restart, for the manifest
    recovered: list[str]  # the problems a restart made good

    def marker(self, topic: str, body: dict) -> None: ...

    def problem(self, text: str, fatal: bool = True) -> None: ...

    def fatal(self, child: Child) -> bool: ...

    def spawn(self, role: str, name: str, restart: dict | None = None) -> Child: ...


class LocalNodes:
    """The node processes of this PC: their exits and silences, the restart policy of the device
    nodes, and the restarts it has planned."""

    def __init__(self, host: NodesHost) -> None:
        self.host = host
        self.pending: dict[str, PendingRestart] = {}
        self.closed = False  # the session is stopping: nothing is started again

    def close(self) -> None:
        self.closed = True
        self.pending.clear()

    def beat_limit(self, child: Child) -> float:
        """Silence allowed: heartbeat_timeout_s, or a start-up grace before a process's first beat
        (a loaded lab PC can take seconds just to start Python and import a node's modules)."""
        t = self.host.cfg.transport.heartbeat_timeout_s
        return t if child.beats else max(t, STARTUP_GRACE_S)

    def watch(self, child: Child, now: float) -> None:
        """Notice a node process's exit or its silence: reported, and restarted where allowed."""
        host = self.host
        if child.proc is None or child.exit_reason:
            return
        code = child.proc.poll()
        if code is not None and code == -signal.SIGTERM and child.stopping:
            # asked to stop while Python was still starting, before its handler was set (child.py
            # sets it before any device work): a clean stop with nothing lost
            child.exit_reason = "stopped"
        elif code is not None:
            child.exit_reason = describe_exit(code)
            if code != 0 or not child.stopping:
                detail = last_error_line(child.log_path) if code != 0 else "before it was asked to stop"
                if child.hung:
                    detail = child.hung
                text = f"{child.name} ({child.role}) {child.exit_reason}" + (f": {detail}" if detail else "")
                restart = self.schedule(child)
                if restart is not None:
                    text += (
                        f"; restarting in {restart.due - now:.1f} s "
                        f"(restart {restart.number} of {host.cfg.session.restarts})"
                    )
                if restart is not None:
                    restart.problem = text
                host.problem(text, fatal=host.fatal(child) and restart is None)
        elif child.hung:
            return  # killed: the next poll sees it gone and restarts it
        elif now - child.last_beat > self.beat_limit(child) and not child.stopping:
            if self.allowed(child):
                # alive but stuck (a driver call that never returns, a stopped process): only a
                # new process can deliver again, so it is killed and restarted like a dead one
                child.hung = f"sent no heartbeat for {now - child.last_beat:.1f} s (not responding), so it was killed"
                child.proc.kill()
                return
            host.problem(
                f"{child.name} ({child.role}) sent no heartbeat for "
                f"{now - child.last_beat:.1f} s: not responding (see {child.log_path})",
                fatal=host.fatal(child),
            )
            child.last_beat = now

    def allowed(self, child: Child) -> bool:
        """Whether a dead or hung device node may be started again (the config's restarts)."""
        sess = self.host.cfg.session
        return not (
            child.role != "device"
            or child.stopping
            or sess.stop_on_node_failure
            or self.host.stop_requested.is_set()
            or self.closed
            or child.restarts >= sess.restarts
        )

    def schedule(self, child: Child) -> PendingRestart | None:
        """Plan the restart of a dead device node, if the config allows one more."""
        if not self.allowed(child):
            return None
        sess = self.host.cfg.session
        backoff = min(sess.restart_backoff_s * 2**child.restarts, sess.restart_backoff_max_s)
        pending = PendingRestart(child, time.monotonic() + backoff, wire.now_ns(), child.restarts + 1)
        self.pending[child.name] = pending
        self.host.marker(
            messages.SESSION_NODE_DOWN,
            {"node": child.name, "role": child.role, "exit": child.exit_reason, "restart_in_s": round(backoff, 3)},
        )
        return pending

    def start_due(self) -> None:
        """Start each planned restart whose backoff is over, once the recorder has caught up."""
        now = time.monotonic()
        for name, pending in list(self.pending.items()):
            if self.host.stop_requested.is_set():
                self.pending.clear()
                return
            if now < pending.due or not self._recorder_caught_up(pending.died_ns):
                continue
            del self.pending[name]
            self._restart(pending)

    def _recorder_caught_up(self, since_ns: int) -> bool:
        return recorder_caught_up(self.host.children, since_ns)

    def _restart(self, pending: PendingRestart) -> None:
        host, old = self.host, pending.child
        info = continuation(host.cfg, host.children, old.name, pending.number)
        child = host.spawn(old.role, old.name, restart=info)
        child.restarts = pending.number
        entry = {
            "node": old.name,
            "exit": old.exit_reason,
            "down_s": round((wire.now_ns() - pending.died_ns) / 1e9, 3),
            "died_host_ns": pending.died_ns,
            **info,
        }
        host.restart_log.append(entry)
        host.recovered.append(pending.problem)
        host.marker(messages.SESSION_NODE_RESTARTED, entry)
        print(f"mestudio: {old.name} ({old.role}) restarted (restart {pending.number})", file=sys.stderr, flush=True)
