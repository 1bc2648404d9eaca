from __future__ import annotations

import os
from pathlib import Path

from mestudio.commands import fail
from mestudio.config.errors import ConfigError
from mestudio.config.loader import load_session_config
from mestudio.postprocess import run_steps
from mestudio.preflight import check_session, monitor_settings
from mestudio.progress import TerminalProgress
from mestudio.session_run import run_session
from mestudio.stream.errors import SessionError
from mestudio.stream.verify import format_report, verify
from mestudio.supervisor import SessionResult

NAME = "run"
HELP = "run a session from a config file (hardware or synthetic devices)"


def add_arguments(p) -> None:
    p.add_argument("config", help="session file (TOML), e.g. config/demo.toml")
    p.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: the config's, else Ctrl-C)"
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="folder for the session (default: [session] output)")
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.add_argument("--headless", action="store_true", help="no monitor window, even with a display")


def wants_window(headless: bool) -> bool:
    """Open the monitor beside the session: only for a person at a screen, never offscreen."""
    return not headless and bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_config(
    command: str, path: Path, duration: float | None, out: Path | None, quiet: bool, headless: bool = True
) -> tuple[int, SessionResult | None]:
    """Load, run, verify and summarise one session; shared by `run` and `demo`."""
    try:
        cfg = load_session_config(path)
        text = Path(path).read_text(encoding="utf-8")
        check_session(cfg, Path(path))
    except ConfigError as e:
        return fail(command, str(e), 2), None
    try:
        from mestudio.capture.face.devices3d import prepare_all

        prepare_all(cfg, None if quiet else print)
    except ValueError as e:
        return fail(command, str(e), 2), None
    if duration is not None and duration <= 0:
        return fail(command, f"--duration must be positive, got {duration}", 2), None
    progress = None if quiet else TerminalProgress()
    window = []

    settings = monitor_settings(cfg, path)

    def open_monitor(sup) -> None:
        if settings.open and wants_window(headless):
            from mestudio.monitor.launch import open_window

            log = sup.root / "logs" / "monitor.log"
            window.append(open_window(sup.root, log_path=log, extra_args=settings.window_args()))

    try:
        result = run_session(
            cfg, text, out=out, config_path=Path(path), duration_s=duration, on_progress=progress, on_start=open_monitor
        )
    except SessionError as e:
        return fail(command, str(e), 2), None
    finally:
        if progress:
            progress.close()
        if window:
            from mestudio.monitor.launch import close_window

            close_window(window[0])
    rep = verify(result.path)
    print(format_report(rep))
    for step in run_steps(cfg, result.path):
        print(f"{step.name}: {step.summary}" if step.ok else f"{step.name}: FAILED: {step.summary}")
    print(f"session: {result.path}")
    if not result.ok:
        return fail(command, f"session ended with {len(result.problems)} problem(s): {result.problems[0]}"), result
    return (0 if rep.ok else 1), result


def run(args) -> int:
    return run_config(NAME, Path(args.config), args.duration, args.out, args.quiet, args.headless)[0]
