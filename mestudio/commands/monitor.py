from __future__ import annotations

from pathlib import Path

from mestudio.commands import fail

NAME = "monitor"
HELP = "the experimenter's live window on a running session or a replay (default: the newest one)"


def add_arguments(p) -> None:
    p.add_argument(
        "target",
        nargs="?",
        metavar="SESSION_OR_LIVE_FILE",
        help="a running session's folder or a /tmp/mestudio-live/<pid>.json entry "
        "(default: the newest running session or replay)",
    )
    p.add_argument("--duration", type=float, metavar="S", help="close the window after S seconds")
    p.add_argument("--screenshot", type=Path, metavar="PNG", help="save the window as PNG when it closes")
    p.add_argument(
        "--stats-json",
        type=Path,
        metavar="FILE",
        help="write what the window received and drew (latency, repaints) as JSON when it closes",
    )
    p.add_argument("--fps", type=float, default=25.0, help="repaints per second (default 25)")
    p.add_argument("--size", default="1600x1000", metavar="WxH", help="window size (default 1600x1000)")
    p.add_argument(
        "--max-mb-per-s",
        type=float,
        default=0.0,
        metavar="MB",
        help="take at most MB of frames per second off the wire and skip the rest (saves CPU on "
        "a small machine; frames then show up to ~1 s late). Default 0: no cap",
    )
    p.add_argument(
        "--preview-fps",
        type=float,
        default=None,
        metavar="F",
        help="have at most F frames per second of each camera sent to the window (the rest are "
        "never sent: the publisher filters them); default: twice the repaint rate; 0: every frame",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=10,
        help="scheduling niceness of the window (default 10: the recorder and devices come first)",
    )


def run(args) -> int:
    # Qt is imported here, not at module top: `mestudio --help` imports every command module
    from mestudio.gui.errors import QtBindingError
    from mestudio.monitor.errors import MonitorError
    from mestudio.monitor.target import resolve

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        return fail(NAME, f"--size must look like 1600x1000, got {args.size!r}", 2)
    # twice the repaint rate: a frame shown is then at most half a repaint old when painted
    preview = 2 * args.fps if args.preview_fps is None else args.preview_fps
    if args.fps <= 0 or (args.duration is not None and args.duration <= 0) or args.max_mb_per_s < 0 or preview < 0:
        return fail(NAME, "--fps and --duration must be positive, --max-mb-per-s and --preview-fps not negative", 2)
    try:
        target = resolve(args.target)
        from mestudio.monitor.app import run_monitor

        return run_monitor(
            target,
            duration_s=args.duration,
            screenshot=args.screenshot,
            stats_json=args.stats_json,
            fps=args.fps,
            size=(w, h),
            nice=args.nice,
            max_mb_per_s=args.max_mb_per_s,
            preview_fps=preview,
        )
    except (MonitorError, QtBindingError) as e:
        return fail(NAME, str(e), 2)
