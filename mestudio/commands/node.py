"""`mestudio node CONFIG --device NAME`: run a remote device of a session on this (second) PC."""

from __future__ import annotations

from mestudio.commands import fail
from mestudio.config.errors import ConfigError

NAME = "node"
HELP = "run a device of a session on this PC (its [[devices]] host = this PC); it joins the recording PC's session"


def add_arguments(p) -> None:
    p.add_argument("config", help="the session file (the same one the recording PC runs)")
    p.add_argument("--device", required=True, metavar="NAME", help="the [[devices]] section to run here")
    p.add_argument("--keys", metavar="DIR", help="this PC's keys folder (default: [transport] keys)")
    p.add_argument("--client", default="client", metavar="NAME", help="this PC's key pair in it (default: client)")
    p.add_argument("--wait", type=float, default=60.0, metavar="S", help="wait this long for the session (default 60)")
    p.add_argument(
        "--keep-alive",
        action="store_true",
        help="run the node in a child process and start it again when it dies (signal, crash), with the "
        "session's [session] restarts and backoff; it rejoins where the recording stopped",
    )
    p.add_argument(
        "--simulate-clock-offset",
        type=float,
        default=0.0,
        metavar="S",
        help="checking a rig: pretend this PC's clock is S seconds ahead (the measured offset must undo it)",
    )
    p.add_argument("--json", action="store_true", help="print the node's final status as JSON")


def run(args) -> int:
    from mestudio.remote_keeper import EXIT_CODES, NodeOptions, keep_alive, report, run_node

    opts = NodeOptions(
        config=args.config,
        device=args.device,
        keys=args.keys,
        client=args.client,
        wait_s=args.wait,
        simulated_skew_ns=int(args.simulate_clock_offset * 1e9),
        json=args.json,
    )
    if args.keep_alive:
        try:
            return keep_alive(opts)
        except ConfigError as e:
            return fail(NAME, str(e), 2)
    verdict = run_node(opts)
    if verdict.error:
        return fail(NAME, verdict.error, EXIT_CODES[verdict.ending])
    report(opts, verdict)
    return 0
