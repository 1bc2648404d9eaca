"""`mestudio node CONFIG --device NAME`: run a remote device of a session on this (second) PC."""

from __future__ import annotations

import json
from pathlib import Path

from mestudio.commands import fail
from mestudio.config.errors import ConfigError
from mestudio.config.loader import load_session_config
from mestudio.stream.errors import StreamError
from mestudio.sync.errors import HostClockError

NAME = "node"
HELP = "run a device of a session on this PC (its [[devices]] host = this PC); it joins the recording PC's session"


def add_arguments(p) -> None:
    p.add_argument("config", help="the session file (the same one the recording PC runs)")
    p.add_argument("--device", required=True, metavar="NAME", help="the [[devices]] section to run here")
    p.add_argument("--keys", metavar="DIR", help="this PC's keys folder (default: [transport] keys)")
    p.add_argument("--client", default="client", metavar="NAME", help="this PC's key pair in it (default: client)")
    p.add_argument("--wait", type=float, default=60.0, metavar="S", help="wait this long for the session (default 60)")
    p.add_argument(
        "--simulate-clock-offset",
        type=float,
        default=0.0,
        metavar="S",
        help="checking a rig: pretend this PC's clock is S seconds ahead (the measured offset must undo it)",
    )
    p.add_argument("--json", action="store_true", help="print the node's final status as JSON")


def run(args) -> int:
    from mestudio.remote import run_remote_node

    path = Path(args.config)
    try:
        cfg = load_session_config(path)
        status = run_remote_node(
            cfg,
            path,
            args.device,
            keys=args.keys,
            client=args.client,
            wait_s=args.wait,
            simulated_skew_ns=int(args.simulate_clock_offset * 1e9),
        )
    except ConfigError as e:
        return fail(NAME, str(e), 2)
    except HostClockError as e:
        return fail(NAME, str(e), 1)
    except StreamError as e:  # keys, private folders
        return fail(NAME, str(e), 2)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    if status.get("error"):  # its device failed more often than [session] restarts allows
        return fail(NAME, f"{args.device}: {status['error']}", 1)
    if not args.json:
        frames = {k: v.get("frames") for k, v in status.get("streams", {}).items()}
        print(f"mestudio node {args.device}: stopped; frames sent {frames}")
    return 0
