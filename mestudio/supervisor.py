"""The supervisor: one process per device, the recorder and the configured stages, watched.

Order of life: create the session folder (manifest first: mestudio/session_plan.py), start the
recorder and wait until it listens, start the other nodes, watch heartbeats and exits, then stop
producers first and the recorder last so that it drains everything they sent.  A child that dies is
reported at once with its exit reason and put on the session's timeline; a device node is started
again (mestudio/node_processes.py) so that its streams go on with a gap the timeline and ``verify``
account for; a node on another PC is watched by its heartbeats (mestudio/remote_watch.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq

from mestudio.config.schema import SessionConfig
from mestudio.node_processes import Child, LocalNodes, last_error_line
from mestudio.remote_watch import RemoteWatch
from mestudio.session_plan import (
    SUPERVISOR,
    SupervisorError,
    config_relative,
    now_iso,
    plan_nodes,
    producer_names,
)
from mestudio.stream import messages, wire
from mestudio.stream.bus import Endpoints, Publisher
from mestudio.stream.curve import stop_authenticator
from mestudio.stream.errors import WireFormatError
from mestudio.stream.node import RESTART_ENV
from mestudio.stream.recorder_node import EXIT_DISK_FULL
from mestudio.stream.session import write_json_atomic
from mestudio.stream.shm_ring import remove_session_rings, session_tag
from mestudio.stream.spawn import module_command
from mestudio.sync.hostclock import TimeServer

# between "session/stopping" and stopping the producers: until the sync node says the audio past
# its end chirp has arrived ("end_chirp" in its heartbeat), at most this long (a fixed second lost
# the end chirp on a loaded host)
STOP_NOTICE_MAX_S = 5.0


@dataclass
class SessionResult:
    path: Path
    ok: bool
    problems: list[str]
    children: dict[str, dict]


class Supervisor:
    """Owns a session's sockets and node processes: starts them, watches them, stops them in order."""

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
            keys=config_relative(session_dir, t.keys) if t.keys else "",
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
        self.restart_log: list[dict] = []  # every restart, for the manifest
        self.local_nodes = LocalNodes(self)  # this PC's node processes and their restarts
        self.remote_nodes = RemoteWatch(self)  # nodes on other PCs, known by their heartbeats

    # -- lifecycle ------------------------------------------------------------------------
    def spawn(self, role: str, name: str, restart: dict | None = None) -> Child:
        """Start a node process (``restart``: what it needs to go on where its predecessor stopped)."""
        log_path = self.root / "logs" / f"{name}.log"
        child = Child(name, role, log_path)
        env = None
        if restart is not None:
            env = {**os.environ, RESTART_ENV: json.dumps(restart)}
        with open(log_path, "ab") as log:
            child.proc = subprocess.Popen(
                module_command("mestudio.child", role, name, str(self.root)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                # the recorder in a session of its own is its own scheduling group (Linux autogroup):
                # a camera node's many threads no longer share one group's CPU with it (measured: on
                # 2 full cores it waited 0.4-0.5 s a second for a CPU, 0.1-0.36 s alone; backlog
                # 0.5-0.8 -> 0.08-0.12 s, docs/performance.md). It ignores SIGINT either way and stops
                # when the supervisor dies (stream/node.py watches its parent)
                start_new_session=role == "recorder",
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
            child = self.spawn(role, name)
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
            if c.remote and not self.remote_nodes.wait(c, wait) and not self.stop_requested.is_set():
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
                if child is not None and child.remote:  # which of its processes is it? (a restarted one rejoins)
                    self.remote_nodes.beat(child, msg.data)
                elif child is not None:
                    child.status.update(msg.data)
                    child.last_beat = time.monotonic()
                    child.beats += 1
        self._take_commands()
        now = time.monotonic()
        for child in self.children.values():
            if child.remote:
                self.remote_nodes.watch(child, now)
                continue
            self.local_nodes.watch(child, now)

        self.local_nodes.start_due()

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

    def broadcast(self, topic: str, body: dict) -> None:
        """A session message to every node (not recorded: the timeline has markers for that)."""
        wire.send(self._broadcast, wire.json_parts(wire.Kind.EVENT, SUPERVISOR, 0, body, topic=topic), zmq.NOBLOCK)

    def fatal(self, child: Child) -> bool:
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
            self.remote_nodes.refuse_waiting(c)
        end = time.monotonic() + grace_s
        running = self.remote_nodes.running
        while any(running(c) for c in children) and time.monotonic() < end:
            body = {"nodes": [c.name for c in children if running(c)]}
            stop = wire.json_parts(wire.Kind.EVENT, SUPERVISOR, 0, body, topic=messages.SESSION_STOP_REMOTE)
            wire.send(self._broadcast, stop)
            for _ in range(10):
                self.poll(0.05)
        for c in children:
            death = self.remote_nodes.death(c)
            if death and not c.exit_reason:  # died on its host and did not rejoin
                c.exit_reason = death
            elif running(c):
                c.exit_reason = "did not stop"
                self.problem(f"{c.name} (remote device on {c.remote}) did not stop within {grace_s:.0f} s")

    def stop(self) -> None:
        self.local_nodes.close()
        sync = next((c for c in self.children.values() if c.role == "sync" and c.alive), None)
        if self.started and sync is not None:
            # notice first, so the sync master can put its end chirp on the microphone track
            wire.send(
                self._broadcast, wire.json_parts(wire.Kind.EVENT, SUPERVISOR, 0, {}, topic=messages.SESSION_STOPPING)
            )
            end = time.monotonic() + STOP_NOTICE_MAX_S
            while "end_chirp" not in sync.status and sync.alive and time.monotonic() < end:
                self.poll(0.05)
            if "end_chirp" not in sync.status and sync.alive:
                print(
                    f"supervisor: the end chirp was not in the audio {STOP_NOTICE_MAX_S:.0f} s after the stop "
                    "notice; stopping anyway (offline sync may lack its end anchor)",
                    file=sys.stderr,
                    flush=True,
                )
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
        # each problem made good once: a second outage reported in the same words is not covered by the first's
        ok = not Counter(self.problems) - Counter(self.recovered)
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
                "ended": now_iso(),
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
        self._remove_rings_left()
        return SessionResult(self.root, ok, self.problems, children)

    def _remove_rings_left(self) -> None:
        """A producer leaves its shared-memory ring for the recorder when frames are still queued
        and the recorder has not opened it yet; with both gone, /dev/shm would hold it (RAM) until
        the machine restarts."""
        n, nbytes = remove_session_rings(session_tag(self.endpoints.recorder))
        if n:
            print(
                f"mestudio: removed {n} shared-memory ring(s) of this session that no recorder opened "
                f"({nbytes / 1e6:.0f} MB of /dev/shm); frames still in them were not recorded",
                file=sys.stderr,
                flush=True,
            )
