"""What the monitor connects to: a live-registry entry, a running session's folder, or the newest.

A replay announces itself with the folder of the session it replays, whose own bus.json names
the endpoints of the original (finished) run; so a folder is first looked up among the live
entries, and its bus.json is used only while the session that wrote it is still recording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mestudio.monitor.errors import NoSessionError
from mestudio.stream import live
from mestudio.stream.bus import BUS_FILE, Endpoints
from mestudio.stream.errors import StreamError


@dataclass
class Target:
    kind: str  # "session" or "replay"
    label: str
    endpoints: Endpoints
    session_dir: Path | None
    t0_host_ns: int | None  # the session's time origin, from its manifest

    @property
    def live(self) -> bool:
        """True when frames are stamped now (a running session), not replayed from a recording."""
        return self.kind != "replay"


def _manifest(session_dir: Path | None) -> dict:
    if session_dir is None:
        return {}
    try:
        return json.loads((Path(session_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return {}


def _from_entry(e: live.LiveEntry) -> Target:
    sdir = Path(e.session_dir) if e.session_dir else None
    t0 = _manifest(sdir).get("t0_host_ns")
    return Target(e.kind, e.label, e.endpoints, sdir, int(t0) if t0 is not None else None)


def resolve(arg: str | None) -> Target:
    """The target named by ``mestudio monitor [SESSION_OR_LIVE_FILE]``; clear error when none."""
    if arg is None:
        try:
            return _from_entry(live.latest())
        except StreamError as e:
            raise NoSessionError(str(e)) from None
    path = Path(arg)
    if path.is_file() and path.suffix == ".json":
        try:
            entry = live.read_entry(path)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise NoSessionError(f"{path}: not a live-registry entry ({e})") from None
        if not live.pid_alive(entry.pid):
            raise NoSessionError(f"{path}: its {entry.kind} (pid {entry.pid}) is no longer running")
        return _from_entry(entry)
    if not path.is_dir():
        raise NoSessionError(f"{path}: no such session folder or live-registry file")
    resolved = path.resolve()
    for entry in live.list_live():
        if entry.session_dir and Path(entry.session_dir).resolve() == resolved:
            return _from_entry(entry)
    m = _manifest(path)
    if not (path / BUS_FILE).is_file() or not m:
        raise NoSessionError(f"{path}: not a mestudio session folder (no {BUS_FILE} or manifest.json)")
    pid = int(m.get("supervisor_pid") or 0)
    if m.get("status") != "recording" or pid <= 0 or not live.pid_alive(pid):
        raise NoSessionError(
            f"{path}: this session is not running; watch it with `mestudio replay {path}` and `mestudio monitor`"
        )
    t0 = m.get("t0_host_ns")
    return Target(
        "session", m.get("session", path.name), Endpoints.load(path), path, int(t0) if t0 is not None else None
    )
