"""The `mestudio` command line: subcommands are modules of mestudio.commands, found at start.

Each command module defines NAME, HELP, add_arguments(parser) and run(args) -> exit code.
Commands of the design (docs/index.md) that are not built yet say so instead of pretending.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import mestudio
from mestudio import commands

# the command-line contract (docs/index.md); a name without a module here is not built yet
PLANNED = {
    "demo": "run the embedded synthetic demo",
    "run": "run a session from a config file",
    "verify": "check (and repair) a session folder",
    "replay": "republish a session on the wire",
    "analyze": "run the analyzer over a recording",
    "monitor": "the experimenter's live window",
    "elicit": "run a stimulus protocol",
    "train": "train the study's models",
    "evaluate": "evaluate models with the study's protocol",
    "evaluate-spotting": "score the analyzer on a dataset's long videos (MEGC protocol)",
    "bench": "run a benchmark",
    "export": "turn a session into files other tools read",
    "sync": "the offline sync report and frame sets of a session",
    "keys": "create the CURVE keys of tcp sessions",
    "node": "run a remote device of a session on a second PC",
    "calibrate": "calibrate the rig from a ChArUco recording",
    "reconstruct": "a face mesh per frame set (stereo, RGB-D)",
    "views": "4D views (left/front/right DPI, E-DPI, texture) of a session's meshes",
    "import-annotations": "read an ELAN file's tiers back into a session as labels",
    "annotate": "the ME annotation window (onset/apex/offset, AUs, Table 4 emotion)",
    "labels": "merge several annotators' labels the study's way; the agreement report",
}


def _command_modules() -> tuple[dict, dict]:
    """Command modules by name, and the import error of any that could not load."""
    found, broken = {}, {}
    for info in pkgutil.iter_modules(commands.__path__):
        try:
            mod = importlib.import_module(f"mestudio.commands.{info.name}")
        except ImportError as e:  # a missing optional dependency breaks that command, not the CLI
            broken[info.name] = f"{type(e).__name__}: {e}"
            continue
        found[mod.NAME] = mod
    return found, broken


def build_parser() -> tuple[argparse.ArgumentParser, dict, dict]:
    parser = argparse.ArgumentParser(prog="mestudio", description=mestudio.__doc__)
    parser.add_argument("--version", action="version", version=f"mestudio {mestudio.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mods, broken = _command_modules()
    for name in sorted(set(PLANNED) | set(mods) | set(broken)):
        mod = mods.get(name)
        why = "cannot load" if name in broken else "not built yet"
        p = sub.add_parser(
            name, help=mod.HELP if mod else f"{PLANNED.get(name, name)} ({why})", description=mod.HELP if mod else None
        )
        if mod:
            mod.add_arguments(p)
    return parser, mods, broken


def main(argv: list[str] | None = None) -> int:
    parser, mods, broken = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    mod = mods.get(args.command)
    if mod is None and args.command in broken:
        print(
            f"mestudio {args.command}: cannot load ({broken[args.command]}); reinstall with scripts/install.sh",
            file=sys.stderr,
        )
        return 2
    if mod is None:
        print(f"mestudio {args.command}: not built yet in mestudio {mestudio.__version__}", file=sys.stderr)
        return 2
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        print(f"mestudio {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mestudio verify --json | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
