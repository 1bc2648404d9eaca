"""One module per `mestudio` subcommand: NAME, HELP, add_arguments(parser), run(args) -> int."""

from __future__ import annotations

import sys


def fail(command: str, message: str, code: int = 1) -> int:
    """Print a one-line error for ``mestudio <command>`` and return its exit code."""
    print(f"mestudio {command}: {message}", file=sys.stderr)
    return code


def add_session_arguments(p, session_help: str) -> None:
    """The SESSION positional and ``--json``, as the session-processing commands (calibrate,
    reconstruct) take them."""
    p.add_argument("session", help=session_help)
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run_with_progress(command: str, args, work, show, counting: str, bar: bool = False) -> int:
    """Run ``work(progress) -> report`` with a progress line on stderr (none with ``--json``),
    then print the report as JSON or through ``show(report)``.  The stage's errors (files,
    sessions, calibration) become ``fail``'s one line, after ending the progress line.

    ``counting`` names what ``progress(k, n)`` counts; ``bar`` draws it as a bar."""
    import json

    from mestudio.reconstruct.errors import GeometryError
    from mestudio.stream.errors import StreamError

    shown = []

    def progress(k: int, n: int) -> None:
        if args.json:
            return
        shown.append(k)
        line = f"[{'#' * int(30 * k / max(n, 1)):30s}] {k}/{n} {counting}" if bar else f"{counting}: {k}/{n}"
        print(f"\r{line}", end="", file=sys.stderr, flush=True)

    try:
        report = work(progress)
    except (GeometryError, StreamError, OSError) as e:
        if shown:
            print(file=sys.stderr)  # end the progress line
        return fail(command, str(e))
    if shown:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        show(report)
    return 0
