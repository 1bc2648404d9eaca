"""`mestudio elicit`: run a stimulus protocol on its own, or send it a command.

Standalone, the markers go to a JSONL file (one line per marker, the fields of a session's
events.jsonl); with --session DIR they go to that running session's recorder instead.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

from mestudio.commands import fail
from mestudio.stream import messages

NAME = "elicit"
HELP = "run a stimulus protocol in the participant window (or send a running one a command)"
VERBS = ("start", "pause", "resume", "skip", "abort")


def add_arguments(p) -> None:
    p.add_argument("protocol", nargs="?", help="protocol file, e.g. config/demo-protocol.toml")
    p.add_argument("--participant", default="P00", help="participant code (sets the counterbalanced order)")
    p.add_argument("--headless", action="store_true", help="offscreen window (no display needed)")
    p.add_argument(
        "--session",
        type=Path,
        metavar="DIR",
        help="a running session's folder: markers go to its recorder, commands come from its monitor",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("sessions"),
        metavar="DIR",
        help="standalone: folder for the markers file (default sessions/)",
    )
    p.add_argument("--autostart", action="store_true", help="start without waiting for the operator")
    p.add_argument("--check", action="store_true", help="only check the protocol, clips and sound, then exit")
    p.add_argument("--screenshots", type=Path, metavar="DIR", help="save a screenshot of each screen there")
    p.add_argument(
        "--simulate-participant", action="store_true", help="answer surveys with scripted clicks (demos and tests)"
    )
    p.add_argument("--hold-end", type=float, default=3.0, metavar="S", help="seconds the end screen stays (default 3)")
    p.add_argument(
        "--send",
        choices=VERBS,
        metavar="VERB",
        help=f"send a running session's elicitation a command ({', '.join(VERBS)}) and exit",
    )
    p.add_argument("--json", action="store_true", help="with --check: print the result as JSON")


class _EchoSink:
    """Prints each marker as one line for the operator, then passes it on."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def emit(self, topic: str, body: dict, host_time_ns: int | None = None) -> None:
        self.inner.emit(topic, body, host_time_ns)
        if topic == messages.MARKERS_ELICIT:
            what = body.get("clip") or body.get("action") or ""
            print(f"elicit: {body.get('event')} {what}".rstrip(), flush=True)

    def close(self) -> None:
        self.inner.close()


def _stdin_commands(ctrl_holder: list) -> None:
    """Operator commands typed on the terminal (or piped): one verb per line."""
    for line in sys.stdin:
        verb = line.strip().lower()
        if verb in VERBS and ctrl_holder:
            ctrl_holder[0].command(verb, "cli")
        elif verb:
            print(f"elicit: unknown command {verb!r}; one of {', '.join(VERBS)}", file=sys.stderr, flush=True)


def _send(args) -> int:
    import zmq

    from mestudio.elicit.node import send_command
    from mestudio.stream.bus import Endpoints
    from mestudio.stream.errors import StreamError
    from mestudio.stream.live import latest

    try:
        ep = Endpoints.load(args.session) if args.session else latest().endpoints
    except StreamError as e:
        return fail(NAME, str(e), 2)
    zctx = zmq.Context()
    try:
        send_command(zctx, ep.commands, args.send, "elicit-cli", {"target": "elicit"})
    finally:
        zctx.term()
    print(f"elicit: sent {args.send}")
    return 0


def _session_sink(session: Path):
    """A publisher into a running session: lossless to its recorder, plus a PUB of our own."""
    import os

    import zmq

    from mestudio.elicit.markers import WireSink
    from mestudio.stream.bus import Endpoints, Publisher

    ep = Endpoints.load(session)
    name = f"elicit-cli-{os.getpid()}"
    base = ep.recorder.rsplit("/", 1)[0] if ep.recorder.startswith("ipc://") else None
    ep.pubs = {name: f"{base}/pub-{name}" if base else "tcp://127.0.0.1:*"}
    zctx = zmq.Context()
    return WireSink(Publisher(zctx, ep, name), "elicit"), ep, zctx


def run(args) -> int:
    if args.send:
        return _send(args)
    if not args.protocol:
        return fail(NAME, "name a protocol file (e.g. config/demo-protocol.toml), or --send VERB", 2)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", args.participant):
        return fail(NAME, f"--participant {args.participant!r}: use 1-32 letters, digits, '_' or '-'", 2)
    from mestudio.config.errors import ConfigError
    from mestudio.elicit.checks import check_protocol
    from mestudio.elicit.errors import ElicitError
    from mestudio.elicit.protocol import load_protocol

    try:
        proto = load_protocol(args.protocol)
        pre = check_protocol(proto)
    except (ConfigError, ElicitError) as e:
        problems = getattr(e, "all_problems", None)
        if args.check and problems:
            for line in problems:
                print(f"mestudio {NAME}: {line}", file=sys.stderr)
            return fail(NAME, f"{len(problems)} problems in {args.protocol}; fix them before the session", 2)
        return fail(NAME, str(e), 2)
    for w in pre.warnings:
        print(f"elicit: warning: {w}", file=sys.stderr, flush=True)
    if args.check:
        if args.json:
            import json

            print(
                json.dumps(
                    {
                        "ok": True,
                        "clips": {k: str(v) for k, v in pre.paths.items()},
                        "durations_s": pre.durations,
                        "warnings": pre.warnings,
                        "sound": pre.sound.device_name if pre.sound else None,
                    },
                    indent=2,
                )
            )
        else:
            print(
                f"elicit: {args.protocol}: {len(pre.paths)} clips ready, sound: "
                f"{pre.sound.device_name if pre.sound else 'none (silent)'}"
            )
        if pre.sound:
            pre.sound.close()
        return 0
    return _play(args, proto, pre)


def _play(args, proto, pre) -> int:
    from mestudio.config.errors import ConfigError
    from mestudio.elicit.app import run_protocol
    from mestudio.elicit.errors import DisplayError, ElicitError
    from mestudio.elicit.markers import JsonlSink

    zctx = listener = None
    if args.session:
        from mestudio.elicit.node import CommandListener
        from mestudio.stream.errors import StreamError

        try:
            inner, ep, zctx = _session_sink(args.session)
        except StreamError as e:
            return fail(NAME, str(e), 2)
        listener = CommandListener(zctx, ep.broadcast)
        where = f"the recorder of {args.session}"
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = args.out / f"elicit_{proto.protocol.name}_{args.participant}_{stamp}.jsonl"
        try:
            inner = JsonlSink(path)
        except OSError as e:
            return fail(NAME, f"cannot write markers in {args.out}: {e.strerror or e} (choose --out)", 2)
        where = str(path)
    print(f"elicit: markers go to {where}", flush=True)
    sink = _EchoSink(inner)
    holder: list = []
    threading.Thread(target=_stdin_commands, args=(holder,), daemon=True).start()
    stop = threading.Event()  # Ctrl-C / SIGTERM: abort cleanly (markers recorded), then exit
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = run_protocol(
            proto,
            args.participant,
            sink,
            pre,
            headless=True if args.headless else None,
            autostart=args.autostart,
            hold_end_s=max(0.0, args.hold_end),
            screenshot_dir=args.screenshots,
            simulate_participant=args.simulate_participant,
            poll_commands=listener.poll if listener else None,
            on_controller=holder.append,
            stop=stop,
        )
    except DisplayError as e:  # before the first screen: nothing was recorded
        return fail(NAME, str(e), 2)
    except (ConfigError, ElicitError) as e:  # e.g. a clip's drive unplugged after the checks
        return fail(NAME, f"stopped: {e}; the markers so far are in {where}", 1)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        sink.close()
        if listener:
            listener.close()
        if zctx:
            zctx.term()
        if pre.sound:
            pre.sound.close()
    if stop.is_set() and not result.completed:
        return fail(NAME, f"interrupted; the run was aborted and its markers are in {where}", 130)
    if not result.completed:
        return fail(NAME, f"protocol stopped before its end ({result.state}); markers are in {where}", 1)
    print(f"elicit: protocol {proto.protocol.name} completed; markers in {where}")
    return 0
