"""How mestudio starts its own Python processes.

``python -P -m <module>``: -P (Python 3.11+) keeps the working directory off ``sys.path``, so a
lab folder holding its own ``config/`` or ``mestudio/`` cannot replace our modules in a child.
"""

from __future__ import annotations

import sys


def module_command(module: str, *args: str) -> list[str]:
    """The argv that runs ``python -m module args...`` in this interpreter, shadow-proof."""
    return [sys.executable, "-P", "-m", module, *args]
