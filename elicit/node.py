"""The "elicit" role: runs the protocol of `[elicit] protocol` inside a session.

Markers go through the node's publisher (recorded losslessly; also on its PUB for the monitor);
operator commands arrive as `command/<verb>` on the supervisor's broadcast.  Everything that can
fail (protocol typo, missing clip, codec, required sound) fails before the first screen.
"""

from __future__ import annotations

from pathlib import Path

import zmq

from mestudio.config.loader import validate
from mestudio.elicit.checks import check_protocol
from mestudio.elicit.errors import ProtocolError
from mestudio.elicit.markers import WireSink
from mestudio.elicit.protocol import load_protocol
from mestudio.elicit.settings import ElicitSettings
from mestudio.stream import messages, wire
from mestudio.stream.errors import WireFormatError
from mestudio.stream.node import NodeContext


class CommandListener:
    """SUB on the supervisor's broadcast; hands `command/<verb>` verbs to the controller."""

    def __init__(self, ctx: zmq.Context, endpoint: str, source: str = "command", endpoints=None) -> None:
        self.sock = ctx.socket(zmq.SUB)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.SUBSCRIBE, messages.COMMAND.encode())
        if endpoints is not None:  # a session's Endpoints: CURVE on tcp
            endpoints.connect(self.sock, endpoint)
        else:
            self.sock.connect(endpoint)
        self.source = source

    def poll(self) -> list[tuple[str, str]]:
        out: list = []
        while True:
            try:
                msg = wire.recv(self.sock, zmq.NOBLOCK)
                body = messages.parse_body(msg.topic, msg.data)
            except zmq.Again:
                return out
            except WireFormatError:
                continue  # untrusted: a malformed command is ignored (the supervisor counted it)
            verb = msg.topic.removeprefix(messages.COMMAND)
            assert isinstance(body, messages.Command)  # subscribed to command/ only
            if (body.target or "elicit") in ("elicit", "all"):
                out.append((verb, f"{self.source}:{msg.header.stream_id}"))

    def close(self) -> None:
        self.sock.close()


def send_command(zctx: zmq.Context, endpoint: str, verb: str, sender: str, body: dict | None = None) -> None:
    """PUSH one operator command to a supervisor (it records and re-broadcasts it)."""
    sock = zctx.socket(zmq.PUSH)
    sock.linger = 2000
    try:
        sock.connect(endpoint)
        wire.send(sock, wire.json_parts(wire.Kind.EVENT, sender, 0, body or {}, topic=messages.command_topic(verb)))
    finally:
        sock.close()


def run(ctx: NodeContext) -> int:
    settings = validate(ElicitSettings, ctx.config.elicit, f"{ctx.session_dir / 'config.toml'}: [elicit]")
    if not settings.protocol:
        raise ProtocolError("[elicit] protocol is empty: set it to a protocol file, e.g. config/demo-protocol.toml")
    # relative to the session file (a bundled name like "demo-protocol.toml" also works)
    path = ctx.resolve(settings.protocol)
    proto = load_protocol(path if path.exists() else settings.protocol)
    pre = check_protocol(proto)
    for w in pre.warnings:
        ctx.log.warning("elicit: %s", w)
    pub = ctx.publisher()
    sink = WireSink(pub, ctx.name)
    listener = CommandListener(ctx.zmq, ctx.endpoints.broadcast, endpoints=ctx.endpoints)
    participant = settings.participant or ctx.config.session.participant
    ctx.heartbeat({"ready": True, "protocol": proto.protocol.name, "warnings": pre.warnings})
    from mestudio.elicit.app import run_protocol

    shots = Path(settings.screenshots) if settings.screenshots else None

    def ended(ctrl) -> None:
        ctx.heartbeat({"state": ctrl.state, "completed": ctrl.completed})
        if settings.end_session and not ctx.stop.is_set():
            send_command(
                ctx.zmq,
                ctx.endpoints.commands,
                "stop-session",
                ctx.name,
                {"reason": f"protocol {proto.protocol.name} {ctrl.state}"},
            )

    try:
        result = run_protocol(
            proto,
            participant,
            sink,
            pre,
            headless=settings.headless,
            autostart=settings.autostart,
            hold_end_s=None,
            screenshot_dir=shots,
            simulate_participant=settings.simulate_participant,
            poll_commands=listener.poll,
            stop=ctx.stop,
            on_end=ended,
        )
        ctx.heartbeat({"state": result.state, "completed": result.completed, "markers_dropped": sink.dropped})
        ctx.log.info("elicit: protocol %s %s", proto.protocol.name, "completed" if result.completed else result.state)

    finally:
        listener.close()
        sink.close()
        if pre.sound is not None:
            pre.sound.close()
    # wait for the supervisor's stop: a node that leaves early is reported as a problem
    ctx.stop.wait()
    return 0
