"""One module per `mestudio` subcommand: NAME, HELP, add_arguments(parser), run(args) -> int."""

from __future__ import annotations

import sys


def fail(command: str, message: str, code: int = 1) -> int:
    """Print a one-line error for ``mestudio <command>`` and return its exit code."""
    print(f"mestudio {command}: {message}", file=sys.stderr)
    return code
