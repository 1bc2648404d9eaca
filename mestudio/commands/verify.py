from __future__ import annotations

import json

from mestudio.commands import fail
from mestudio.stream.errors import SessionError
from mestudio.stream.verify import format_report, verify

NAME = "verify"
HELP = "check a session folder: frames, gaps, timestamp order, duration; repair one cut short"


def add_arguments(p) -> None:
    p.add_argument("session", help="session folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-repair", action="store_true", help="report only; do not trim a torn tail")


def run(args) -> int:
    try:
        rep = verify(args.session, do_repair=not args.no_repair)
    except SessionError as e:
        return fail(NAME, str(e), 2)
    print(json.dumps(rep.to_json(), indent=2) if args.json else format_report(rep))
    return 0 if rep.ok else 1
