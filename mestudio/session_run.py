"""One session start to end: its folder, its supervisor, Ctrl-C and SIGTERM, and its final manifest."""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import zmq

from mestudio.access import session_umask
from mestudio.config.schema import SessionConfig
from mestudio.session_plan import SupervisorError, create_session
from mestudio.stream.curve import CurveKeyError
from mestudio.stream.errors import SessionError
from mestudio.stream.live import announce, withdraw
from mestudio.stream.private import PrivateFolderError
from mestudio.supervisor import SessionResult, Supervisor


def run_session(
    cfg: SessionConfig,
    config_text: str,
    *,
    out: Path | None = None,
    config_path: Path | None = None,
    duration_s: float | None = None,
    on_progress: Callable[[Supervisor], None] | None = None,
    on_start: Callable[[Supervisor], None] | None = None,
) -> SessionResult:
    """Run one session start to end; SIGINT/SIGTERM stop it cleanly."""
    with session_umask(cfg.session.group):  # every file of the session, children's too
        return _run_session(cfg, config_text, out, config_path, duration_s, on_progress, on_start)


def _run_session(cfg, config_text, out, config_path, duration_s, on_progress, on_start) -> SessionResult:
    root = create_session(cfg, config_text, out, config_path)
    try:
        sup = Supervisor(cfg, root, on_progress)
    except (zmq.ZMQError, PrivateFolderError, CurveKeyError) as e:
        # a port taken since preflight, a runtime folder not ours: nothing was recorded, so leave
        # no half-made session behind
        shutil.rmtree(root, ignore_errors=True)
        raise SessionError(f"cannot listen for the session's nodes: {e}") from None
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    if threading.current_thread() is threading.main_thread():
        for s in handlers:
            signal.signal(s, lambda *_: sup.stop_requested.set())
    entry = announce("session", root.name, sup.endpoints, root)
    try:
        try:
            sup.start()
            if on_start:
                on_start(sup)
            sup.run(duration_s if duration_s is not None else cfg.session.duration_s)
        except SupervisorError as e:
            sup.problem(str(e))
        except zmq.ZMQError as e:
            sup.problem(f"cannot listen for the session's nodes: {e}")
        finally:
            sup.stop()
    finally:
        withdraw(entry)
        if threading.current_thread() is threading.main_thread():
            for s, h in handlers.items():
                signal.signal(s, h)
    return sup.finish()
