"""The arrows of docs/architecture.md, enforced: each stage depends on stream/ and config/, never on another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

ALLOWED = {
    "config": {"config"},
    "stream": {"stream", "config"},
    "capture": {"capture", "stream", "config"},
    "sync": {"sync", "stream", "config"},
    "elicit": {"elicit", "stream", "config", "gui"},
    "analysis": {"analysis", "stream", "config"},
    "monitor": {"monitor", "stream", "config", "gui"},
    "gui": {"gui"},  # the windows' shared Qt start-up
    "reconstruct": {"reconstruct", "stream", "config"},
    "interop": {"interop", "stream", "config"},
    # the annotation window and the labels of several annotators (docs/annotate.md)
    "annotate": {"annotate", "stream", "config", "gui", "analysis", "interop"},
}
PROJECT = set(ALLOWED) | {"mestudio"}
QT = ("PySide6", "pyqtgraph", "PyQt5", "PyQt6", "shiboken6")
# stages that are more than a window: only these modules of theirs may import Qt (the labels logic may not)
QT_MODULES = {"annotate": ("qt.py", "window.py")}


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
    return out


def stage_of(module: str) -> str | None:
    """The stage a ``mestudio.<stage>...`` import reaches; "mestudio" for the command line."""
    parts = module.split(".")
    if parts[0] != "mestudio":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else "mestudio"


def files(pkg: str) -> list[Path]:
    return sorted((ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("pkg", sorted(ALLOWED))
def test_stage_depends_only_on_what_the_design_allows(pkg):
    bad = []
    for f in files(pkg):
        for mod in imports(f):
            stage = stage_of(mod)
            if stage is not None and stage not in ALLOWED[pkg]:
                bad.append(f"{f.relative_to(ROOT)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_only_the_windows_import_qt():
    bad = []
    for pkg in ALLOWED:
        if pkg in ("monitor", "elicit", "gui"):
            continue
        for f in files(pkg):
            if f.name in QT_MODULES.get(pkg, ()):
                continue
            bad += [f"{f.relative_to(ROOT)} imports {m}" for m in imports(f) if m.split(".")[0] in QT]
    assert not bad, "\n".join(bad)


def test_nothing_imports_the_cli():
    bad = [
        f"{f.relative_to(ROOT)}"
        for pkg in PROJECT
        for f in files(pkg)
        if f.name != "__main__.py" and "mestudio.cli" in imports(f)
    ]
    assert not bad


def test_every_import_uses_the_installed_names():
    """A bare ``import config`` would reach a lab's own folder (or nothing, once installed)."""
    bad = [
        f"{f.relative_to(ROOT)} imports {m}"
        for pkg in [*PROJECT, "tests", "scripts"]
        for f in files(pkg)
        for m in imports(f)
        if m.split(".")[0] in ALLOWED
    ]
    assert not bad, "\n".join(bad)
