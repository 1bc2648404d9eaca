"""Node roles the supervisor can start: role -> "module:function" taking a NodeContext.

A role's module is imported only in its own process, so a stage that is not installed (or not
built yet) fails that node alone, with its reason in the node's log.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

ROLES: dict[str, str] = {
    "recorder": "mestudio.stream.recorder_node:run",
    "device": "mestudio.capture.node:run",
    "sync": "mestudio.sync.node:run",
    "analyzer": "mestudio.analysis.node:run",
    "elicit": "mestudio.elicit.node:run",
    "lsl": "mestudio.interop.outlets:run",
}

# the config section that switches each optional role on: [analyzer] enabled = true ...
OPTIONAL_ROLES = ("sync", "analyzer", "elicit", "lsl")
# ... and the key that does it, where it is not `enabled`: [lsl] outlets = true
SWITCH_KEYS = {"lsl": "outlets"}


def role_main(role: str) -> Callable:
    try:
        module, func = ROLES[role].split(":")
    except KeyError:
        raise LookupError(f"unknown node role {role!r} (known: {', '.join(ROLES)})") from None
    return getattr(importlib.import_module(module), func)


def is_available(role: str) -> bool:
    module = ROLES[role].split(":")[0]
    return importlib.util.find_spec(module) is not None
