"""Opening the monitor next to a session that `run` or `demo` starts (no Qt imported here).

The window runs as its own process (`mestudio monitor SESSION`), so a slow or closed window can
never stall the supervisor, and a crash in it is not a crash of the recording.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from typing import IO

from mestudio.stream.spawn import module_command


def display_available() -> bool:
    """A screen to open a window on: X11, Wayland, or an explicit Qt platform (e.g. offscreen)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))


def open_window(
    session_dir: str | Path, *, log_path: str | Path | None = None, extra_args: list[str] | None = None
) -> subprocess.Popen | None:
    """Start `mestudio monitor SESSION_DIR [extra_args]`; None when there is no display or no Qt."""
    if not display_available() or importlib.util.find_spec("pyqtgraph") is None:
        return None
    out: IO[bytes] | int = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            module_command("mestudio", "monitor", str(session_dir), *(extra_args or [])),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        if not isinstance(out, int):
            out.close()


def close_window(proc: subprocess.Popen | None, timeout_s: float = 5.0) -> int | None:
    """Ask the window to close (SIGTERM closes it cleanly); its exit code, None if there was none."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
