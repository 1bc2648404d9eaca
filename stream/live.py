"""Which sessions and replays are running on this host, so viewers can find them.

Each running supervisor or replayer writes ``<live>/<pid>.json`` with its endpoints and removes
it when it ends; an entry whose process is gone is ignored (and cleaned up).  ``<live>`` is this
user's own folder (``$XDG_RUNTIME_DIR/mestudio-live``, else ``<tmp>/mestudio-live-<uid>``), mode
0700: an entry tells a viewer where to send commands, so a folder another user could write to (or
made first) is refused rather than trusted.
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
from mestudio.stream.private import check_private_dir, ensure_private_dir


def _default_live_dir() -> Path:
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and Path(xdg).is_dir() and os.stat(xdg).st_uid == os.geteuid():
        return Path(xdg) / "mestudio-live"
    return Path(tempfile.gettempdir()) / f"mestudio-live-{os.geteuid()}"


LIVE_DIR = Path(os.environ.get("MESTUDIO_LIVE_DIR") or _default_live_dir())


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
    ensure_private_dir(LIVE_DIR)
    path = LIVE_DIR / f"{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
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
    if os.path.lexists(LIVE_DIR):
        check_private_dir(LIVE_DIR)  # entries in a folder others control could point anywhere
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
