"""The supervisor: one process per device, the recorder and the configured stages, watched.

Order of life: create the session folder (manifest first), start the recorder and wait until it
listens, start the other nodes, watch heartbeats and exits, then stop producers first and the
recorder last so that it drains everything they sent.  A child that dies is reported at once with
its exit reason, and the session stops: a recording with a device missing is not what was asked.
"""

from __future__ import annotations

import json
import os
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
from mestudio.config.schema import SessionConfig
from mestudio.roles import OPTIONAL_ROLES, SWITCH_KEYS, is_available
from mestudio.stream import wire
from mestudio.stream.bus import Endpoints, Publisher
from mestudio.stream.errors import SessionError, WireFormatError
from mestudio.stream.live import announce, withdraw
from mestudio.stream.session import FORMAT, FORMAT_VERSION, write_json_atomic
from mestudio.stream.spawn import module_command

SUPERVISOR = "supervisor"
STOP_NOTICE_S = 1.0  # between "session/stopping" and stopping the producers (end chirp + its tail)


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

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


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
    try:
        base.mkdir(parents=True, exist_ok=True)
        root = base / name
        n = 1
        while True:
            try:
                root.mkdir()
                break
            except FileExistsError:
                n += 1
                root = base / f"{name}-{n}"
        (root / "logs").mkdir()
        (root / "config.toml").write_text(config_text, encoding="utf-8")
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
    nodes += [("device", d.name) for d in cfg.enabled_devices]
    return nodes


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
        producers = [n for r, n in self.nodes if r != "recorder"] + [SUPERVISOR]
        self.endpoints = Endpoints.plan(
            cfg.transport.scheme, cfg.transport.host, cfg.transport.base_port, producers, key=str(session_dir.resolve())
        )
        self.endpoints.save(session_dir)
        self.children: dict[str, Child] = {}
        self.problems: list[str] = []
        self.stop_requested = threading.Event()
        self.started = 0.0
        self._zmq = zmq.Context()
        self._control = self._zmq.socket(zmq.PULL)
        self._control.linger = 0
        self._control.bind(self.endpoints.control)
        # operator commands from viewers: recorded, then re-broadcast to every node
        self._commands = self._zmq.socket(zmq.PULL)
        self._commands.linger = 0
        self._commands.bind(self.endpoints.commands)
        self._broadcast = self._zmq.socket(zmq.PUB)
        self._broadcast.linger = 500
        self._broadcast.bind(self.endpoints.broadcast)
        self.publisher: Publisher | None = None
        self.commands_seen = 0
        self._marker_seq = 0

    # -- lifecycle ------------------------------------------------------------------------
    def _spawn(self, role: str, name: str) -> Child:
        log_path = self.root / "logs" / f"{name}.log"
        child = Child(name, role, log_path)
        with open(log_path, "ab") as log:
            child.proc = subprocess.Popen(
                module_command("mestudio.child", role, name, str(self.root)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
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
        for role, name in self.nodes:
            child = self._spawn(role, name)
            if role == "recorder" and not self._wait_ready(child, timeout_s=20):
                raise SupervisorError(
                    f"recorder did not start: {child.exit_reason or 'no heartbeat in 20 s'} (see {child.log_path})"
                )
        for c in self.children.values():
            if c.role == "device" and not self._wait_ready(c, timeout_s=30):
                raise SupervisorError(
                    f"{c.name} (device) did not start: {c.exit_reason or 'not ready in 30 s'}"
                    f"{': ' + last_error_line(c.log_path) if c.exit_reason else ''}"
                )
        self.started = time.monotonic()
        self.marker("session/start", {"nodes": [n for _, n in self.nodes]})

    def _wait_ready(self, child: Child, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.poll(0.05)
            if child.status.get("ready"):
                return True
            if not child.alive:
                return False
        return False

    def poll(self, timeout_s: float = 0.1) -> None:
        """Take heartbeats and notice exits; a problem is recorded and stops the session."""
        if self._control.poll(int(timeout_s * 1000)):
            while True:
                try:
                    msg = wire.recv(self._control, zmq.NOBLOCK)
                except zmq.Again:
                    break
                child = self.children.get(msg.header.stream_id)
                if child is not None and isinstance(msg.data, dict):
                    child.status.update(msg.data)
                    child.last_beat = time.monotonic()
        self._take_commands()
        now = time.monotonic()
        for child in self.children.values():
            if child.proc is None or child.exit_reason:
                continue
            code = child.proc.poll()
            if code is not None:
                child.exit_reason = describe_exit(code)
                if code != 0 or not child.stopping:
                    detail = last_error_line(child.log_path) if code != 0 else "before it was asked to stop"
                    self.problem(
                        f"{child.name} ({child.role}) {child.exit_reason}" + (f": {detail}" if detail else ""),
                        fatal=self._fatal(child),
                    )
            elif now - child.last_beat > self.cfg.transport.heartbeat_timeout_s and not child.stopping:
                self.problem(
                    f"{child.name} ({child.role}) sent no heartbeat for "
                    f"{now - child.last_beat:.1f} s: not responding (see {child.log_path})",
                    fatal=self._fatal(child),
                )
                child.last_beat = now

    def _take_commands(self) -> None:
        while True:
            try:
                parts = self._commands.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                msg = wire.decode(parts)
            except WireFormatError as e:
                print(f"mestudio: ignored a malformed operator command ({e})", file=sys.stderr)
                continue
            self.commands_seen += 1
            self.marker(
                msg.topic,
                {
                    "command": msg.topic.removeprefix("command/"),
                    "from": msg.header.stream_id,
                    **(msg.data if isinstance(msg.data, dict) else {}),
                },
            )
            wire.send(self._broadcast, [p.buffer if isinstance(p, zmq.Frame) else p for p in parts], zmq.NOBLOCK)
            if msg.topic == "command/stop-session":
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
        self.marker("session/problem", {"problem": text, "fatal": fatal})
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
            if c.alive:
                c.stopping = True
                c.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace_s
        while any(c.alive for c in children) and time.monotonic() < end:
            self.poll(0.05)
        for c in children:
            if c.alive:
                c.proc.kill()
                c.proc.wait()
                self.problem(f"{c.name} ({c.role}) did not stop within {grace_s:.0f} s and was killed")
        self.poll(0.05)

    def stop(self) -> None:
        if self.started and any(c.role == "sync" and c.alive for c in self.children.values()):
            # notice first, so the sync master can put its end chirp on the microphone track
            wire.send(self._broadcast, wire.json_parts(wire.Kind.EVENT, SUPERVISOR, 0, {}, topic="session/stopping"))
            end = time.monotonic() + STOP_NOTICE_S
            while time.monotonic() < end:
                self.poll(0.05)
        self.marker("session/stop", {"problems": list(self.problems)})
        if self.publisher is not None:
            self.publisher.close()  # its queue reaches the recorder before the recorder stops
            self.publisher = None
        producers = [c for c in self.children.values() if c.role != "recorder"]
        self._stop_group(producers, grace_s=10)
        self._stop_group([c for c in self.children.values() if c.role == "recorder"], grace_s=60)

    def finish(self) -> SessionResult:
        """Write the final manifest (status, problems, each node's exit) and close sockets."""
        children = {
            c.name: {"role": c.role, "exit": c.exit_reason or "not started", "status": c.status}
            for c in self.children.values()
        }
        mpath = self.root / "manifest.json"
        manifest = json.loads(mpath.read_text())
        ok = not self.problems
        manifest.update(
            {
                "status": "complete" if ok else "failed",
                "problems": self.problems,
                "ended": _now_iso(),
                "duration_s": round(time.monotonic() - self.started, 3) if self.started else 0.0,
                "nodes": children,
            }
        )
        try:
            write_json_atomic(mpath, manifest)
        except OSError as e:
            self.problems.append(f"could not finalize {mpath}: {e.strerror or e}")
        self._zmq.destroy()
        self.endpoints.remove_ipc_files()
        return SessionResult(self.root, not self.problems, self.problems, children)


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
    root = create_session(cfg, config_text, out, config_path)
    sup = Supervisor(cfg, root, on_progress)
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
        finally:
            sup.stop()
    finally:
        withdraw(entry)
        if threading.current_thread() is threading.main_thread():
            for s, h in handlers.items():
                signal.signal(s, h)
    return sup.finish()
