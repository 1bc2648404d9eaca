from __future__ import annotations

from pathlib import Path

from mestudio.commands.run import run_config
from mestudio.config.loader import bundled_config

NAME = "demo"
HELP = "the embedded default: a synthetic rig recorded for ~30 s, no hardware needed"


def add_arguments(p) -> None:
    p.add_argument("--duration", type=float, default=30.0, metavar="S", help="seconds to record (default 30)")
    p.add_argument("--out", type=Path, default=Path("sessions"), metavar="DIR", help="folder for the session")
    p.add_argument(
        "--headless",
        action="store_true",
        help="no monitor window even with a display (without one, the terminal summary is all)",
    )
    p.add_argument("--quiet", action="store_true", help="no live progress")


def run(args) -> int:
    print(f"mestudio demo: recording the synthetic rig for {args.duration:g} s into {args.out}/ (Ctrl-C stops early)")
    return run_config(NAME, bundled_config("demo.toml"), args.duration, args.out, args.quiet, args.headless)[0]
