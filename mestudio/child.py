"""Entry point of one node process: ``python -m mestudio.child ROLE NAME SESSION_DIR``.

The supervisor starts it with stdout/stderr going to ``<session>/logs/<name>.log``.  Its exit code
is the node's verdict; on an error its last line says what went wrong, for the supervisor to show.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path

from mestudio.config.loader import load_session_config
from mestudio.roles import role_main
from mestudio.stream.bus import Endpoints
from mestudio.stream.node import RESTART_ENV, NodeContext

EXIT_ERROR = 1


def _restart_info() -> dict:
    """What the supervisor passed to a restarted node (empty on a first start or if unreadable)."""
    raw = os.environ.pop(RESTART_ENV, "")
    try:
        info = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def main(argv: list[str]) -> int:
    role, name, session = argv
    session_dir = Path(session)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=f"%(asctime)s {name} %(levelname)s %(message)s")
    manifest = json.loads((session_dir / "manifest.json").read_text())
    config_path = manifest.get("config_path")
    ctx = NodeContext(
        name=name,
        role=role,
        config=load_session_config(session_dir / "config.toml"),
        session_dir=session_dir,
        endpoints=Endpoints.load(session_dir),
        config_dir=Path(config_path).parent if config_path else session_dir,
        restart=_restart_info(),
    )
    ctx.start_reporting()
    try:
        code = int(role_main(role)(ctx) or 0)
        error = ctx.status().get("error")
        if code and error:
            print(f"ERROR {name}: {error}", file=sys.stderr, flush=True)
    except Exception as e:  # the node's verdict goes to the supervisor as one line
        traceback.print_exc()
        ctx.heartbeat({"error": f"{type(e).__name__}: {e}"})
        print(f"ERROR {name}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        code = EXIT_ERROR
    finally:
        ctx.close()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
