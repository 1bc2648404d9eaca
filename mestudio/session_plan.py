"""What a session is before anything runs: its folder (manifest first) and the nodes to start.

The supervisor and a remote PC's ``mestudio node`` both plan from the same config file, so both
sides derive the same node list, the same producers and so the same endpoints.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import mestudio
from mestudio.access import group_id, share_with_group
from mestudio.config.schema import SessionConfig
from mestudio.roles import OPTIONAL_ROLES, SWITCH_KEYS, is_available
from mestudio.stream import wire
from mestudio.stream.errors import SessionError
from mestudio.stream.session import FORMAT, FORMAT_VERSION, write_json_atomic

SUPERVISOR = "supervisor"  # the stream id of the supervisor's own markers


class SupervisorError(RuntimeError):
    """The session could not be started (the message says why and what to do)."""


def now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


def create_session(
    cfg: SessionConfig, config_text: str, out: Path | None = None, config_path: Path | None = None
) -> Path:
    """Make the session folder with its manifest and config snapshot; clear error if unwritable."""
    base = Path(out) if out is not None else cfg.session.output
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{cfg.session.name}_{cfg.session.participant}_{stamp}"
    group_id(cfg.session.group)  # an unknown group fails before anything is made
    try:
        base.mkdir(parents=True, exist_ok=True)
        root = base / name
        n = 1
        while True:
            try:
                root.mkdir(mode=0o700)
                break
            except FileExistsError:
                n += 1
                root = base / f"{name}-{n}"
        try:
            share_with_group(root, cfg.session.group)
        except SessionError:
            root.rmdir()
            raise
        (root / "logs").mkdir()
        (root / "config.toml").write_text(config_text, encoding="utf-8")
    except SessionError:
        raise
    except OSError as e:
        raise SessionError(
            f"cannot create a session in {base}: {e.strerror or e} "
            "(choose a writable folder with --out or [session] output)"
        ) from None
    write_json_atomic(
        root / "manifest.json",
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "wire_version": wire.VERSION,
            "software": f"mestudio {mestudio.__version__}",
            "session": cfg.session.name,
            "participant": cfg.session.participant,
            "consent": cfg.session.consent,
            "notes": cfg.session.notes,
            "host": socket.gethostname(),
            "created": now_iso(),
            "status": "recording",
            "supervisor_pid": os.getpid(),
            # relative paths in the config (a protocol, clips, a checkpoint) are relative to this file
            "config_path": str(Path(config_path).resolve()) if config_path else None,
            "t0_host_ns": wire.now_ns(),
            "t0_wall_ns": time.time_ns(),
            "devices": [d.model_dump(mode="json") for d in cfg.enabled_devices],
            "config": cfg.model_dump(mode="json"),
        },
    )
    return root


def plan_nodes(cfg: SessionConfig) -> list[tuple[str, str]]:
    """(role, name) of every node to start, recorder first."""
    nodes = [("recorder", "recorder")] if cfg.recorder.enabled else []
    for role in OPTIONAL_ROLES:
        section = getattr(cfg, role)
        if section.get(SWITCH_KEYS.get(role, "enabled"), False):
            if not is_available(role):
                raise SupervisorError(
                    f"[{role}] is enabled in the config, but this mestudio has no {role} "
                    f"stage built; set [{role}] {SWITCH_KEYS.get(role, 'enabled')} = false"
                )
            nodes.append((role, role))
    # a device on another host is started there (`mestudio node`); it connects to this session
    nodes += [("remote" if d.host else "device", d.name) for d in cfg.enabled_devices]
    return nodes


def producer_names(nodes: list[tuple[str, str]]) -> list[str]:
    """Every node that publishes (all but the recorder), and the supervisor's own markers."""
    return [n for r, n in nodes if r != "recorder"] + [SUPERVISOR]


def config_relative(session_dir: Path, path: str) -> str:
    """A path of the config, relative to the config file's folder (as the manifest says it was)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return str(p)
    cfg_path = json.loads((session_dir / "manifest.json").read_text()).get("config_path")
    return str(((Path(cfg_path).parent if cfg_path else Path.cwd()) / p).resolve())
