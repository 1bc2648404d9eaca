from __future__ import annotations

import importlib
import json
import pkgutil

from mestudio import benches
from mestudio.commands import fail

NAME = "bench"
HELP = "run a benchmark; prints its figures and the ratio to a baseline measured in the same run"


def available() -> list[str]:
    return sorted(i.name for i in pkgutil.iter_modules(benches.__path__) if not i.name.startswith("_"))


def add_arguments(p) -> None:
    p.add_argument("name", help="which benchmark: " + ", ".join(available()))
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--quick", action="store_true", help="a shorter run (smoke test; figures are noisier)")


def run(args) -> int:
    if args.name not in available():
        return fail(NAME, f"no benchmark {args.name!r}; available: {', '.join(available())}", 2)
    mod = importlib.import_module(f"mestudio.benches.{args.name}")
    figures = mod.run(args)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{args.name}: {mod.HELP}")
        for line in _lines(figures):
            print(line)
    return 0


def _lines(d: dict, indent: str = "  ") -> list[str]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(f"{indent}{k}:")
            out += _lines(v, indent + "  ")
        else:
            out.append(f"{indent}{k}: {v:.4g}" if isinstance(v, float) else f"{indent}{k}: {v}")
    return out
