from __future__ import annotations

import importlib
import json
import os
import pkgutil
import time
from pathlib import Path

from mestudio import benches
from mestudio.commands import fail

NAME = "bench"
HELP = "run a benchmark; prints its figures and the ratio to a baseline measured in the same run"


def available() -> list[str]:
    return sorted(i.name for i in pkgutil.iter_modules(benches.__path__) if not i.name.startswith("_"))


def add_arguments(p) -> None:
    p.add_argument("name", help="which benchmark: " + ", ".join(available()) + ", or all (one report, machine facts)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--quick", action="store_true", help="a shorter run (smoke test; figures are noisier)")
    p.add_argument("--out", help="also write the figures as JSON to this file")


def run_all(args) -> tuple[dict, list[str]]:
    """Every bench in turn, then one report with the machine's facts before and after."""
    from mestudio.benches._machine import facts

    report: dict = {"machine": facts(args.quick), "benches": {}}
    failed = []
    for name in available():
        t = time.perf_counter()
        try:
            figures = importlib.import_module(f"mestudio.benches.{name}").run(args)
        except Exception as e:  # one bench that cannot run here must not lose the others' figures
            figures = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"}
            failed.append(name)
        report["benches"][name] = {"seconds": round(time.perf_counter() - t, 1), **figures}
    report["machine_after"] = {"load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    return report, failed


def run(args) -> int:
    failed: list[str] = []
    if args.name == "all":
        figures, failed = run_all(args)
        help_text = "every benchmark, with the machine's facts"
    elif args.name not in available():
        return fail(NAME, f"no benchmark {args.name!r}; available: {', '.join(available())}, all", 2)
    else:
        mod = importlib.import_module(f"mestudio.benches.{args.name}")
        figures, help_text = mod.run(args), mod.HELP
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{args.name}: {help_text}")
        for line in _lines(figures):
            print(line)
    if failed:
        return fail(NAME, f"{len(failed)} benchmark(s) could not run: {', '.join(failed)} (errors in the report)")
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
