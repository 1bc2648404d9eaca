"""Declared dependencies are honest: every third-party import of the code is declared, and nothing is
declared that neither the code nor mediapipe's face mesh (installed without its own requirements) imports."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import ROOT

# every folder the wheel installs (pyproject's package-dir: mestudio/ and each stage)
STAGES = sorted(set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values()))
# declared but imported by another package, not by us: each with the reason
# imported by us but not installed here, each named by its own extra: pyk4a builds only against
# Microsoft's SDK; ray (reconstruct --ray) is a lab's cluster runtime
ELSEWHERE = {"pyk4a", "ray"}
INDIRECT = {
    "shiboken6": "PySide6's own runtime, pinned beside it (the 6.12 reference bug)",
    "openpyxl": "pandas.read_excel's engine for the .xlsx label books",
}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    return {g: {_name(r) for r in reqs if not r.startswith("mestudio")} for g, reqs in groups.items() if g != "dev"}


def _imported_top_levels() -> set[str]:
    out = set()
    for pkg in STAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    out |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    out.add(node.module.split(".")[0])
    return {m for m in out if m not in sys.stdlib_module_names and m != "mestudio"}


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    by_module = md.packages_distributions()
    return {m: {d.lower().replace("_", "-") for d in by_module.get(m, [])} for m in modules}


def test_every_third_party_import_is_declared():
    declared = set().union(*_declared().values())
    dists = _distributions(_imported_top_levels())
    undeclared = {m: d for m, d in dists.items() if not (d & declared) and not (m in ELSEWHERE and m in declared)}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


@pytest.mark.slow
def test_nothing_is_declared_that_nothing_imports():
    pytest.importorskip("mediapipe")
    # what face mesh loads when it runs, in a fresh interpreter (ground truth, not its metadata)
    probe = (
        "import sys, json, numpy as np\n"
        "before = set(sys.modules)\n"
        "from mediapipe.python.solutions import face_mesh\n"
        "with face_mesh.FaceMesh(static_image_mode=True) as f: f.process(np.zeros((64, 64, 3), np.uint8))\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    face_mesh_modules = set(json.loads(r.stdout.strip().splitlines()[-1]))
    used = set().union(*_distributions(_imported_top_levels() | face_mesh_modules).values())
    unused = {g: sorted(d - used - set(INDIRECT) - ELSEWHERE) for g, d in _declared().items()}
    assert not any(unused.values()), f"declared but never imported: {unused}"
