"""`mestudio import-annotations SESSION FILE.eaf`: an ELAN file's tiers back as session labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from mestudio.commands import fail
from mestudio.stream.errors import SessionError

NAME = "import-annotations"
HELP = "read an ELAN .eaf's tiers back into a session as labels (labels/elan-<file>.jsonl)"


def add_arguments(p) -> None:
    p.add_argument("session", help="session folder")
    p.add_argument("eaf", type=Path, help="the .eaf file (from `mestudio export --what elan`, or a coder's)")
    p.add_argument(
        "--stream", default=None, metavar="ID", help="the video the file annotates, if it does not say (default: face)"
    )
    p.add_argument("--json", action="store_true", help="print what was imported as JSON")


def run(args) -> int:
    from mestudio.interop.elan import import_eaf
    from mestudio.interop.errors import InteropError

    try:
        out, labels = import_eaf(args.session, args.eaf, args.stream)
    except (InteropError, SessionError) as e:
        return fail(NAME, str(e), 2)
    except OSError as e:
        return fail(NAME, f"cannot write the labels into {args.session}: {e.strerror or e}", 1)
    per_tier = Counter(r["body"].get("tier", "") for r in labels)
    per_type = Counter(r["body"]["type"] for r in labels)
    if args.json:
        print(json.dumps({"labels": str(out), "records": len(labels), "tiers": per_tier, "types": per_type}, indent=2))
    else:
        print(f"imported {len(labels)} labels from {args.eaf} -> {out}")
        for tier, n in sorted(per_tier.items()):
            print(f"  {tier}: {n}")
    return 0
