"""`mestudio keys DIR`: the CURVE key pairs a tcp session needs (server, client, more clients)."""

from __future__ import annotations

import json
from pathlib import Path

from mestudio.commands import fail
from mestudio.stream.curve import CurveKeyError, CurveKeys, create_keys

NAME = "keys"
HELP = "create the CURVE keys for tcp sessions: a server pair, client pairs, and the allow-list"


def add_arguments(p) -> None:
    p.add_argument("folder", type=Path, help="keys folder (made 0700; existing pairs are kept)")
    p.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="NAME",
        help="one more client pair, allowed in (e.g. a second capture PC); repeatable",
    )
    p.add_argument("--json", action="store_true", help="print what was made as JSON")


def run(args) -> int:
    bad = [c for c in args.client if not c.replace("-", "").replace("_", "").isalnum() or c in ("server", "allowed")]
    if bad:
        return fail(NAME, f"--client {bad[0]!r}: use letters, digits, - and _ (not 'server' or 'allowed')", 2)
    try:
        done = create_keys(args.folder, args.client)
        CurveKeys.load(args.folder)  # what a session will read: check it now
    except (OSError, CurveKeyError) as e:
        return fail(NAME, f"{args.folder}: {getattr(e, 'strerror', None) or e}", 1)
    if args.json:
        print(json.dumps({"folder": str(args.folder.resolve()), **done}, indent=2))
    else:
        made, kept = ", ".join(done["made"]) or "none", ", ".join(done["kept"]) or "none"
        print(
            f"keys in {args.folder}: made {made}, kept {kept}; "
            f"allowed clients: {', '.join(done['allowed'])}\n"
            f'set [transport] keys = "{args.folder}"; a second PC needs server.key and its own '
            "<name>.key_secret (see docs/multi-host.md)"
        )
    return 0
