"""The supervisor: one process per device, the recorder and the configured stages, watched.

Order of life: create the session folder (manifest first), start the recorder and wait until it
listens, start the other nodes, watch heartbeats and exits, then stop producers first and the
recorder last so that it drains everything they sent.  A child that dies is reported at once with
its exit reason and put on the session's timeline; a device node is started again
(``[session] restarts``, with a doubling backoff) so that its streams go on with a gap the timeline
and ``verify`` account for.  Sequence numbers go on where the recording left off.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import zmq

import mestudio
from mestudio.access import group_id, session_umask, share_with_group
from mestudio.config.schema import SessionConfig, stream_ids
from mestudio.roles import OPTIONAL_ROLES, SWITCH_KEYS, is_available
from mestudio.stream import messages, wire
from mestudio.stream.bus import Endpoints, Publisher
from mestudio.stream.curve import CurveKeyError, stop_authenticator
from mestudio.stream.errors import SessionError, WireFormatError
from mestudio.stream.live import announce, withdraw
from mestudio.stream.node import RESTART_ENV
from mestudio.stream.private import PrivateFolderError
from mestudio.stream.recorder import EXIT_DISK_FULL
from mestudio.stream.session import FORMAT, FORMAT_VERSION, write_json_atomic
from mestudio.stream.spawn import module_command
from mestudio.sync.hostclock import TimeServer

SUPERVISOR = "supervisor"
STOP_NOTICE_S = 1.0  # between "session/stopping" and stopping the producers (end chirp + its tail)
# a dead node's last messages reach the recorder well within this; its restart waits for a recorder
# report made after it, so that sequence numbers go on from the last one recorded
RECORDER_SETTLE_NS = 300_000_000
STARTUP_GRACE_S = 30.0  # a new node process may take this long to send its first heartbeat
STOP_REMOTE = messages.SESSION_STOP_REMOTE


class SupervisorError(RuntimeError):
    """The session could not be started (the message says why and what to do)."""


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


@dataclass
class SessionResult:
    path: Path
    ok: bool
    problems: list[str]
    children: dict[str, dict]


def _now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


def create_session(
    cfg: SessionConfig, config_text: str, out: Path | None = None, config_path: Path | None = None
) -> Path:
    """Make the session folder with its manifest and config snapshot; clear error if unwritable."""
    base = Path(out) if out is not None else cfg.session.output
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{cfg.session.name}_{cfg.session.participant}_{stamp}"
    group_id(cfg.session.group)  # an unknown group fails before anything is made
    try:
        base.mkdir(parents=True, exist_ok=True)
        root = base / name
        n = 1
        while True:
            try:
                root.mkdir(mode=0o700)
                break
            except FileExistsError:
                n += 1
                root = base / f"{name}-{n}"
        try:
            share_with_group(root, cfg.session.group)
        except SessionError:
            root.rmdir()
            raise
        (root / "logs").mkdir()
        (root / "config.toml").write_text(config_text, encoding="utf-8")
    except SessionError:
        raise
    except OSError as e:
        raise SessionError(
            f"cannot create a session in {base}: {e.strerror or e} "
            "(choose a writable folder with --out or [session] output)"
        ) from None
    write_json_atomic(
        root / "manifest.json",
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "wire_version": wire.VERSION,
            "software": f"mestudio {mestudio.__version__}",
            "session": cfg.session.name,
            "participant": cfg.session.participant,
            "consent": cfg.session.consent,
            "notes": cfg.session.notes,
            "host": socket.gethostname(),
            "created": _now_iso(),
            "status": "recording",
            "supervisor_pid": os.getpid(),
            # relative paths in the config (a protocol, clips, a checkpoint) are relative to this file
            "config_path": str(Path(config_path).resolve()) if config_path else None,
            "t0_host_ns": wire.now_ns(),
            "t0_wall_ns": time.time_ns(),
            "devices": [d.model_dump(mode="json") for d in cfg.enabled_devices],
            "config": cfg.model_dump(mode="json"),
        },
    )
    return root


def plan_nodes(cfg: SessionConfig) -> list[tuple[str, str]]:
    """(role, name) of every node to start, recorder first."""
    nodes = [("recorder", "recorder")] if cfg.recorder.enabled else []
    for role in OPTIONAL_ROLES:
        section = getattr(cfg, role)
        if section.get(SWITCH_KEYS.get(role, "enabled"), False):
            if not is_available(role):
                raise SupervisorError(
                    f"[{role}] is enabled in the config, but this mestudio has no {role} "
                    f"stage built; set [{role}] {SWITCH_KEYS.get(role, 'enabled')} = false"
                )
            nodes.append((role, role))
    # a device on another host is started there (`mestudio node`); it connects to this session
    nodes += [("remote" if d.host else "device", d.name) for d in cfg.enabled_devices]
    return nodes


def _config_relative(session_dir: Path, path: str) -> str:
    """A path of the config, relative to the config file's folder (as the manifest says it was)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return str(p)
    cfg_path = json.loads((session_dir / "manifest.json").read_text()).get("config_path")
    return str(((Path(cfg_path).parent if cfg_path else Path.cwd()) / p).resolve())


def producer_names(nodes: list[tuple[str, str]]) -> list[str]:
    """Every node that publishes (all but the recorder), and the supervisor's own markers."""
    return [n for r, n in nodes if r != "recorder"] + [SUPERVISOR]


def _outage_number(report: object) -> int:
    """The number of a remote node's outage or restart report (untrusted: 0 when malformed)."""
    n = report.get("number") if isinstance(report, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0


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


class Supervisor:
    def __init__(
        self, cfg: SessionConfig, session_dir: Path, on_progress: Callable[[Supervisor], None] | None = None
    ) -> None:
        self.cfg = cfg
        self.root = session_dir
        self.on_progress = on_progress
        self.nodes = plan_nodes(cfg)
        producers = producer_names(self.nodes)
        t = cfg.transport
        self.endpoints = Endpoints.plan(
            t.scheme,
            t.host,
            t.base_port,
            producers,
            key=session_dir.name,
            runtime_dir=t.runtime_dir or None,
            keys=_config_relative(session_dir, t.keys) if t.keys else "",
            hosts={d.name: d.host for d in cfg.enabled_devices if d.host},
        )
        self._time_server: TimeServer | None = None
        self.endpoints.save(session_dir)
        self.children: dict[str, Child] = {}
        self.problems: list[str] = []
        # the problems a restart made good (a device node that died and was started again): reported,
        # on the timeline and in verify's outages, but the session still completes
        self.recovered: list[str] = []
        self.stop_requested = threading.Event()
        self.started = 0.0
        self._zmq = zmq.Context()
        try:
            # No receive limit on either: libzmq drops the rest of a peer's messages when that peer
            # disconnects while this socket's queue is at its limit (measured: a client that sends a
            # burst and exits lost ~350 of 3400, its last command among them). Only the session's own
            # processes and allowed keys can connect (private ipc folder, CURVE on tcp).
            self._control = self._zmq.socket(zmq.PULL)
            self._control.linger = 0
            self._control.rcvhwm = 0
            self.endpoints.bind(self._zmq, self._control, self.endpoints.control)
            # operator commands from viewers: recorded, then re-broadcast to every node
            self._commands = self._zmq.socket(zmq.PULL)
            self._commands.linger = 0
            self._commands.rcvhwm = 0
            self.endpoints.bind(self._zmq, self._commands, self.endpoints.commands)
            self._broadcast = self._zmq.socket(zmq.PUB)
            self._broadcast.linger = 500
            self.endpoints.bind(self._zmq, self._broadcast, self.endpoints.broadcast)
        except zmq.ZMQError:
            stop_authenticator(self._zmq)
            self._zmq.destroy(linger=0)
            self.endpoints.remove_ipc_files()
            raise
        self.publisher: Publisher | None = None
        self.commands_seen = 0
        self.rejects = messages.RejectCounter(
            "supervisor", lambda text: print(f"mestudio: {text}", file=sys.stderr, flush=True)
        )
        self._marker_seq = 0
        self.pending_restarts: dict[str, PendingRestart] = {}
        self.restart_log: list[dict] = []  # every restart, for the manifest
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------
    def _spawn(self, role: str, name: str, restart: dict | None = None) -> Child:
        log_path = self.root / "logs" / f"{name}.log"
        child = Child(name, role, log_path)
        env = None
        if restart is not None:  # what the node needs to go on where its predecessor stopped
            env = {**os.environ, RESTART_ENV: json.dumps(restart)}
        with open(log_path, "ab") as log:
            child.proc = subprocess.Popen(
                module_command("mestudio.child", role, name, str(self.root)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        child.last_beat = time.monotonic()
        self.children[name] = child
        return child

    def marker(self, topic: str, body: dict) -> None:
        """A session event stamped now and recorded (session start/stop, operator commands)."""
        if self.publisher is not None:
            self.publisher.send(wire.json_parts(wire.Kind.EVENT, SUPERVISOR, self._marker_seq, body, topic=topic))
            self._marker_seq += 1

    def start(self) -> None:
        if self.cfg.recorder.enabled:
            self.publisher = Publisher(self._zmq, self.endpoints, SUPERVISOR, viewer_hwm=self.cfg.transport.viewer_hwm)
        remote = {d.name: d.host for d in self.cfg.enabled_devices if d.host}
        if remote:  # remote hosts measure their clock against this one (sync/hostclock.py)
            self._time_server = TimeServer(self._zmq, self.endpoints.clock, endpoints=self.endpoints)
        for role, name in self.nodes:
            if role == "remote":
                self.children[name] = Child(name, role, self.root / "logs" / f"{name}.log", remote=remote[name])
                continue
            child = self._spawn(role, name)
            if role == "recorder" and not self._wait_ready(child, timeout_s=20):
                raise SupervisorError(
                    f"recorder did not start: {child.exit_reason or 'no heartbeat in 20 s'} (see {child.log_path})"
                )
        for c in self.children.values():
            # the sync master too: before it listens, a triggered camera gets no triggers and the
            # operator's chirp is lost (the broadcast is PUB/SUB)
            if c.role in ("device", "sync") and not self._wait_ready(c, timeout_s=30):
                raise SupervisorError(
                    f"{c.name} ({c.role}) did not start: {c.exit_reason or 'not ready in 30 s'}"
                    f"{': ' + last_error_line(c.log_path) if c.exit_reason else ''}"
                )
        wait = self.cfg.transport.remote_wait_s
        for c in self.children.values():
            if c.remote and not self._wait_remote(c, wait) and not self.stop_requested.is_set():
                raise SupervisorError(
                    f"{c.name} (remote device on {c.remote}) did not connect within {wait:.0f} s: run "
                    f"`mestudio node CONFIG --device {c.name}` on {c.remote} (see docs/multi-host.md)"
                )
        self.started = time.monotonic()
        self.marker(messages.SESSION_START, messages.SessionStart(nodes=[n for _, n in self.nodes]).to_wire())

    def _wait_ready(self, child: Child, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.poll(0.05)
            if child.status.get("ready"):
                return True
            if not child.alive:
                return False
        return False

    def _beat_limit(self, child: Child) -> float:
        """Silence allowed: heartbeat_timeout_s, or a start-up grace before a process's first beat
        (a loaded lab PC can take seconds just to start Python and import a node's modules)."""
        t = self.cfg.transport.heartbeat_timeout_s
        return t if child.beats else max(t, STARTUP_GRACE_S)

    def _wait_remote(self, child: Child, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and not self.stop_requested.is_set():
            self.poll(0.05)
            if child.status.get("ready"):
                return True
        return False

    def _watch_remote(self, child: Child, now: float) -> None:
        """A remote node is known by its heartbeats: its last one, or none for too long."""
        if not child.status.get("ready") or child.exit_reason:
            return
        self._remote_restarts(child)
        if child.status.get("final"):
            child.exit_reason = "stopped" if child.stopping else "stopped on its host"
            error = child.status.get("error")
            if error and not child.stopping:
                child.exit_reason = "failed on its host"
            if not child.stopping:
                self.problem(
                    f"{child.name} (remote device on {child.remote}) stopped before it was asked to"
                    + (f": {error}" if error else ""),
                    fatal=self._fatal(child),
                )
        elif now - child.last_beat > self.cfg.transport.heartbeat_timeout_s and not child.stopping:
            self.problem(
                f"{child.name} (remote device on {child.remote}) sent no heartbeat for "
                f"{now - child.last_beat:.1f} s: not responding (network, or its host)",
                fatal=self._fatal(child),
            )
            child.last_beat = now

    def _remote_restarts(self, child: Child) -> None:
        """A remote node reopens its failed device itself (mestudio/remote_restarts.py) and says so in
        its heartbeats; each outage and restart goes on the timeline as a local node's would."""
        log = child.status.get("restart_log")
        entries = [e for e in log if _outage_number(e)] if isinstance(log, list) else []
        for e in sorted(entries, key=_outage_number):
            if _outage_number(e) <= child.restarts or not isinstance(e.get("died_host_ns"), int):
                continue
            self._remote_down(child, e)
            child.restarts = _outage_number(e)
            entry = {"node": child.name, **{k: e.get(k) for k in ("exit", "restart", "seq_base", "frames_before")}}
            entry.update(down_s=round((wire.now_ns() - e["died_host_ns"]) / 1e9, 3), died_host_ns=e["died_host_ns"])
            self.restart_log.append(entry)
            self.recovered.append(child.remote_down.pop(child.restarts, ""))
            self.marker(messages.SESSION_NODE_RESTARTED, entry)
            text = f"mestudio: {child.name} (remote) reopened its device (restart {child.restarts})"
            print(text, file=sys.stderr, flush=True)
        outage = child.status.get("outage")
        if isinstance(outage, dict) and _outage_number(outage) > child.restarts:
            self._remote_down(child, outage)

    def _remote_down(self, child: Child, outage: dict) -> None:
        number = _outage_number(outage)
        if number in child.remote_down or number <= child.restarts:
            return
        why, backoff = " ".join(str(outage.get("exit", "?")).split())[:300], outage.get("restart_in_s")
        backoff = float(backoff) if isinstance(backoff, int | float) else 0.0
        text = (
            f"{child.name} (remote device on {child.remote}) failed: {why}; reopening "
            f"in {backoff:.1f} s (restart {number} of {self.cfg.session.restarts})"
        )
        child.remote_down[number] = text
        body = {"node": child.name, "role": child.role, "exit": why, "restart_in_s": backoff}
        self.marker(messages.SESSION_NODE_DOWN, body)
        self.problem(text, fatal=False)

    def _remote_clock(self, child: Child, clock: dict) -> None:
        """Each new clock estimate of a remote host goes on the timeline, as applied to its frames."""
        if clock != child.status.get("clock"):
            self.marker(messages.SESSION_REMOTE_CLOCK, {"node": child.name, "host": child.remote, **clock})

    def poll(self, timeout_s: float = 0.1) -> None:
        """Take heartbeats and notice exits; a problem is recorded and stops the session."""
        if self._control.poll(int(timeout_s * 1000)):
            while True:
                try:
                    parts = self._control.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                try:  # untrusted: anyone who can connect may send anything
                    msg = wire.decode(parts)
                    beat = messages.parse_body(msg.topic, msg.data)
                    if not isinstance(beat, messages.Heartbeat):
                        raise messages.MessageError(f"{msg.topic}: not a heartbeat", kind="topic")
                except WireFormatError as e:
                    self.rejects.reject(e)
                    continue
                child = self.children.get(msg.header.stream_id)
                if child is not None:
                    if child.remote and isinstance(msg.data.get("clock"), dict):
                        self._remote_clock(child, msg.data["clock"])
                    child.status.update(msg.data)
                    child.last_beat = time.monotonic()
                    child.beats += 1
        self._take_commands()
        now = time.monotonic()
        for child in self.children.values():
            if child.remote:
                self._watch_remote(child, now)
                continue
            if child.proc is None or child.exit_reason:
                continue
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
                    restart = self._schedule_restart(child)
                    if restart is not None:
                        text += (
                            f"; restarting in {restart.due - now:.1f} s "
                            f"(restart {restart.number} of {self.cfg.session.restarts})"
                        )
                    if restart is not None:
                        restart.problem = text
                    self.problem(text, fatal=self._fatal(child) and restart is None)
            elif child.hung:
                continue  # killed: the next poll sees it gone and restarts it
            elif now - child.last_beat > self._beat_limit(child) and not child.stopping:
                if self._may_restart(child):
                    # alive but stuck (a driver call that never returns, a stopped process): only a
                    # new process can deliver again, so it is killed and restarted like a dead one
                    child.hung = (
                        f"sent no heartbeat for {now - child.last_beat:.1f} s (not responding), so it was killed"
                    )
                    child.proc.kill()
                    continue
                self.problem(
                    f"{child.name} ({child.role}) sent no heartbeat for "
                    f"{now - child.last_beat:.1f} s: not responding (see {child.log_path})",
                    fatal=self._fatal(child),
                )
                child.last_beat = now

        self._restart_due()

    # -- restarts -------------------------------------------------------------------------
    def _schedule_restart(self, child: Child) -> PendingRestart | None:
        """Plan the restart of a dead device node, if the config allows one more."""
        if not self._may_restart(child):
            return None
        sess = self.cfg.session
        backoff = min(sess.restart_backoff_s * 2**child.restarts, sess.restart_backoff_max_s)
        pending = PendingRestart(child, time.monotonic() + backoff, wire.now_ns(), child.restarts + 1)
        self.pending_restarts[child.name] = pending
        self.marker(
            messages.SESSION_NODE_DOWN,
            {"node": child.name, "role": child.role, "exit": child.exit_reason, "restart_in_s": round(backoff, 3)},
        )
        return pending

    def _may_restart(self, child: Child) -> bool:
        sess = self.cfg.session
        return not (
            child.role != "device"
            or child.stopping
            or sess.stop_on_node_failure
            or self.stop_requested.is_set()
            or self._stopping
            or child.restarts >= sess.restarts
        )

    def _recorder_caught_up(self, since_ns: int) -> bool:
        """Whether the recorder reported its streams after everything sent before ``since_ns`` arrived."""
        rec = self.children.get("recorder")
        if rec is None or not rec.alive:
            return True  # nothing is being recorded: there is nothing to go on from
        return int(rec.status.get("status_ns", 0)) >= since_ns + RECORDER_SETTLE_NS

    def _restart_due(self) -> None:
        now = time.monotonic()
        for name, pending in list(self.pending_restarts.items()):
            if self.stop_requested.is_set():
                self.pending_restarts.clear()
                return
            if now < pending.due or not self._recorder_caught_up(pending.died_ns):
                continue
            del self.pending_restarts[name]
            self._restart(pending)

    def _restart(self, pending: PendingRestart) -> None:
        old = pending.child
        recorded = self.children["recorder"].status.get("streams", {}) if "recorder" in self.children else {}
        spec = next(d for d in self.cfg.enabled_devices if d.name == old.name)
        seq_base, frames_before = {}, {}
        for sid in stream_ids(spec):
            r = recorded.get(sid, {})
            seq_base[sid] = int(r["last_seq"]) + 1 if r.get("last_seq") is not None else 0
            frames_before[sid] = int(r.get("frames", 0))
        info = {"restart": pending.number, "seq_base": seq_base, "frames_before": frames_before}
        child = self._spawn(old.role, old.name, restart=info)
        child.restarts = pending.number
        entry = {
            "node": old.name,
            "exit": old.exit_reason,
            "down_s": round((wire.now_ns() - pending.died_ns) / 1e9, 3),
            "died_host_ns": pending.died_ns,
            **info,
        }
        self.restart_log.append(entry)
        self.recovered.append(pending.problem)
        self.marker(messages.SESSION_NODE_RESTARTED, entry)
        print(f"mestudio: {old.name} ({old.role}) restarted (restart {pending.number})", file=sys.stderr, flush=True)

    def _take_commands(self) -> None:
        while True:
            try:
                parts = self._commands.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                msg = wire.decode(parts)
                if not msg.topic.startswith(messages.COMMAND):
                    raise messages.MessageError(f"{msg.topic}: not an operator command", kind="topic")
                messages.parse_body(msg.topic, msg.data)
            except WireFormatError as e:
                self.rejects.reject(e)
                continue
            self.commands_seen += 1
            self.marker(
                msg.topic,
                {**msg.data, "command": msg.topic.removeprefix(messages.COMMAND), "from": msg.header.stream_id},
            )
            wire.send(self._broadcast, [p.buffer if isinstance(p, zmq.Frame) else p for p in parts], zmq.NOBLOCK)
            if msg.topic == messages.command_topic("stop-session"):
                self.stop_requested.set()

    def _fatal(self, child: Child) -> bool:
        """Without the recorder nothing is kept; anything else is the config's choice."""
        return child.role == "recorder" or self.cfg.session.stop_on_node_failure

    def problem(self, text: str, fatal: bool = True) -> None:
        """Report at once (terminal and the session's timeline); stop the session if fatal."""
        self.problems.append(text)
        print(
            f"mestudio: {text}" + ("" if fatal or not self.started else " (recording goes on)"),
            file=sys.stderr,
            flush=True,
        )
        self.marker(messages.SESSION_PROBLEM, messages.SessionProblem(problem=text, fatal=fatal).to_wire())
        if fatal:
            self.stop_requested.set()

    def run(self, duration_s: float | None) -> None:
        """Watch until the duration is over, a stop is requested, or something fails."""
        next_progress = time.monotonic() + 1.0
        while not self.stop_requested.is_set():
            if duration_s is not None and time.monotonic() - self.started >= duration_s:
                break
            self.poll(0.1)
            if self.on_progress and time.monotonic() >= next_progress:
                next_progress += 1.0
                self.on_progress(self)

    def _stop_group(self, children: list[Child], grace_s: float) -> None:
        for c in children:
            if c.alive and c.proc is not None:
                c.stopping = True
                c.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace_s
        while any(c.alive for c in children) and time.monotonic() < end:
            self.poll(0.05)
        for c in children:
            if c.alive and c.proc is not None:
                c.proc.kill()
                c.proc.wait()
                self.problem(f"{c.name} ({c.role}) did not stop within {grace_s:.0f} s and was killed")
        self.poll(0.05)

    def _stop_remote(self, children: list[Child], grace_s: float) -> None:
        """Ask remote nodes (over the broadcast) to stop, until each sent its final heartbeat."""
        for c in children:
            c.stopping = True
        end = time.monotonic() + grace_s
        while any(c.alive for c in children) and time.monotonic() < end:
            body = {"nodes": [c.name for c in children if c.alive]}
            wire.send(self._broadcast, wire.json_parts(wire.Kind.EVENT, SUPERVISOR, 0, body, topic=STOP_REMOTE))
            for _ in range(10):
                self.poll(0.05)
        for c in children:
            if c.alive:
                c.exit_reason = "did not stop"
                self.problem(f"{c.name} (remote device on {c.remote}) did not stop within {grace_s:.0f} s")

    def stop(self) -> None:
        self._stopping = True
        self.pending_restarts.clear()
        if self.started and any(c.role == "sync" and c.alive for c in self.children.values()):
            # notice first, so the sync master can put its end chirp on the microphone track
            wire.send(
                self._broadcast, wire.json_parts(wire.Kind.EVENT, SUPERVISOR, 0, {}, topic=messages.SESSION_STOPPING)
            )
            end = time.monotonic() + STOP_NOTICE_S
            while time.monotonic() < end:
                self.poll(0.05)
        self.marker(messages.SESSION_STOP, messages.SessionStop(problems=list(self.problems)).to_wire())
        if self.publisher is not None:
            self.publisher.close()  # its queue reaches the recorder before the recorder stops
            self.publisher = None
        self._stop_remote([c for c in self.children.values() if c.remote], grace_s=10)
        producers = [c for c in self.children.values() if c.role not in ("recorder", "remote")]
        self._stop_group(producers, grace_s=10)
        self._stop_group([c for c in self.children.values() if c.role == "recorder"], grace_s=60)

    def finish(self) -> SessionResult:
        """Write the final manifest (status, problems, each node's exit) and close sockets."""
        children = {
            c.name: {"role": c.role, "exit": c.exit_reason or "not started", "status": c.status, "restarts": c.restarts}
            for c in self.children.values()
        }
        mpath = self.root / "manifest.json"
        manifest = json.loads(mpath.read_text())
        ok = all(p in self.recovered for p in self.problems)
        rec = self.children.get("recorder")
        disk_full = rec is not None and rec.proc is not None and rec.proc.returncode == EXIT_DISK_FULL
        rejected = {"supervisor": dict(self.rejects.counts)}
        try:  # the recorder's own counts, as it wrote them when it stopped
            rejected["recorder"] = json.loads((self.root / "recorder.json").read_text())["rejected"]
        except (OSError, ValueError, KeyError, TypeError):
            rec = self.children.get("recorder")
            rejected["recorder"] = rec.status.get("rejected", {}) if rec is not None else {}
        manifest["rejected"] = rejected
        manifest.update(
            {
                "status": "complete" if ok else "disk full" if disk_full else "failed",
                "problems": self.problems,
                "ended": _now_iso(),
                "duration_s": round(time.monotonic() - self.started, 3) if self.started else 0.0,
                "nodes": children,
                "restarts": self.restart_log,
            }
        )
        try:
            write_json_atomic(mpath, manifest)
        except OSError as e:
            self.problems.append(f"could not finalize {mpath}: {e.strerror or e}")
            ok = False
        if self._time_server is not None:
            self._time_server.close()
        stop_authenticator(self._zmq)
        self._zmq.destroy()
        self.endpoints.remove_ipc_files()
        return SessionResult(self.root, ok, self.problems, children)


def run_session(
    cfg: SessionConfig,
    config_text: str,
    *,
    out: Path | None = None,
    config_path: Path | None = None,
    duration_s: float | None = None,
    on_progress: Callable[[Supervisor], None] | None = None,
    on_start: Callable[[Supervisor], None] | None = None,
) -> SessionResult:
    """Run one session start to end; SIGINT/SIGTERM stop it cleanly."""
    with session_umask(cfg.session.group):  # every file of the session, children's too
        return _run_session(cfg, config_text, out, config_path, duration_s, on_progress, on_start)


def _run_session(cfg, config_text, out, config_path, duration_s, on_progress, on_start) -> SessionResult:
    root = create_session(cfg, config_text, out, config_path)
    try:
        sup = Supervisor(cfg, root, on_progress)
    except (zmq.ZMQError, PrivateFolderError, CurveKeyError) as e:
        # a port taken since preflight, a runtime folder not ours: nothing was recorded, so leave
        # no half-made session behind
        shutil.rmtree(root, ignore_errors=True)
        raise SessionError(f"cannot listen for the session's nodes: {e}") from None
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    if threading.current_thread() is threading.main_thread():
        for s in handlers:
            signal.signal(s, lambda *_: sup.stop_requested.set())
    entry = announce("session", root.name, sup.endpoints, root)
    try:
        try:
            sup.start()
            if on_start:
                on_start(sup)
            sup.run(duration_s if duration_s is not None else cfg.session.duration_s)
        except SupervisorError as e:
            sup.problem(str(e))
        except zmq.ZMQError as e:
            sup.problem(f"cannot listen for the session's nodes: {e}")
        finally:
            sup.stop()
    finally:
        withdraw(entry)
        if threading.current_thread() is threading.main_thread():
            for s, h in handlers.items():
                signal.signal(s, h)
    return sup.finish()
