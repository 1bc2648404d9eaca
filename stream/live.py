"""Which sessions and replays are running on this host, so viewers can find them.

Each running supervisor or replayer writes ``/tmp/mestudio-live/<pid>.json`` with its endpoints
and removes it when it ends; an entry whose process is gone is ignored (and cleaned up).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mestudio.stream.bus import Endpoints
from mestudio.stream.errors import StreamError

LIVE_DIR = Path(os.environ.get("MESTUDIO_LIVE_DIR", Path(tempfile.gettempdir()) / "mestudio-live"))


@dataclass
class LiveEntry:
    kind: str  # "session" or "replay"
    label: str
    pid: int
    session_dir: str
    endpoints: Endpoints
    started: float
    path: Path


def announce(kind: str, label: str, endpoints: Endpoints, session_dir: str | Path) -> Path:
    LIVE_DIR.mkdir(parents=True, exist_ok=True)
    path = LIVE_DIR / f"{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "kind": kind,
                "label": label,
                "pid": os.getpid(),
                "session_dir": str(session_dir),
                "started": time.time(),
                "endpoints": endpoints.__dict__,
            }
        )
    )
    os.replace(tmp, path)
    return path


def withdraw(path: Path) -> None:
    path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process of this host still runs (a live entry or a session's supervisor)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_entry(path: Path) -> LiveEntry:
    d = json.loads(Path(path).read_text())
    return LiveEntry(
        d["kind"], d["label"], d["pid"], d["session_dir"], Endpoints(**d["endpoints"]), d["started"], Path(path)
    )


def list_live() -> list[LiveEntry]:
    """Running sessions and replays, newest first."""
    out = []
    for p in LIVE_DIR.glob("*.json") if LIVE_DIR.is_dir() else []:
        try:
            e = read_entry(p)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if pid_alive(e.pid):
            out.append(e)
        else:
            p.unlink(missing_ok=True)
    return sorted(out, key=lambda e: e.started, reverse=True)


def latest() -> LiveEntry:
    entries = list_live()
    if not entries:
        raise StreamError(
            "no running mestudio session or replay on this host "
            "(start one with `mestudio run CONFIG`, `mestudio demo` or `mestudio replay SESSION`)"
        )
    return entries[0]
