from __future__ import annotations

import signal
import sys
import threading
import time

from mestudio.commands import fail
from mestudio.stream.errors import ConsentError, SessionError, StreamError
from mestudio.stream.live import announce, withdraw
from mestudio.stream.replayer import LOSSLESS, LOSSY, Replayer, summary

NAME = "replay"
HELP = "republish a recorded session on the wire, at its own pace (x speed) or as fast as lossless readers allow"


def add_arguments(p) -> None:
    p.add_argument("session", help="session folder")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--speed", type=float, default=1.0, metavar="X", help="pace: X times real time (default 1)")
    g.add_argument("--max", action="store_true", help="as fast as the slowest lossless reader allows")
    p.add_argument("--loop", action="store_true", help="start again at the end until Ctrl-C")
    p.add_argument(
        "--readers",
        type=int,
        default=None,
        metavar="N",
        help="wait for N lossless readers before starting (default 1 with --max, else 0)",
    )
    p.add_argument("--stream", action="append", metavar="ID", help="replay only this stream (repeatable)")


def run(args) -> int:
    try:
        rep = Replayer(args.session, speed=None if args.max else args.speed, loop=args.loop, streams=args.stream)
    except ConsentError as e:
        return fail(NAME, str(e), 3)  # the same code as export's refusal
    except (SessionError, StreamError) as e:
        return fail(NAME, str(e), 2)
    stop = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.set())
    entry = announce("replay", f"replay of {rep.reader.root.name}", rep.endpoints, rep.reader.root)
    for sid, why in rep.skipped.items():
        print(f"mestudio {NAME}: stream {sid} left out: {why}", file=sys.stderr)
    info = summary(rep.reader, rep.streams)
    print(
        f"replaying {info['session']}: {sum(info['streams'].values())} frames in {len(info['streams'])} streams, "
        f"{info['events']} events\n  viewers: {rep.endpoints.pubs[LOSSY]}\n  lossless: {rep.endpoints.pubs[LOSSLESS]}",
        flush=True,
    )
    t0 = time.monotonic()
    try:
        readers = args.readers if args.readers is not None else (1 if args.max else 0)
        if readers:
            rep.wait_for_readers(readers, timeout_s=60)
        sent = rep.run(stop)
    except StreamError as e:
        return fail(NAME, str(e), 1)
    finally:
        rep.close()
        withdraw(entry)
        rep.endpoints.remove_ipc_files()
    print(
        f"replayed {sent} messages in {time.monotonic() - t0:.1f} s" + (" (stopped)" if stop.is_set() else ""),
        file=sys.stdout,
    )
    if rep.damaged:
        more = f" (and {len(rep.damaged) - 1} more; `mestudio verify` names them)" if len(rep.damaged) > 1 else ""
        head = f"mestudio {NAME}: {len(rep.damaged)} frames damaged on disk left out"
        print(f"{head}: {rep.damaged[0]}{more}", file=sys.stderr)
    return 0
