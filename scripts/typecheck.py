"""Run mypy on the installed layout: ``mestudio.<stage>`` over the repository's root folders.

mypy cannot follow setuptools' ``package-dir`` mapping (nor the editable install's import hook),
so this builds that layout as a tree of links in ``.mypy_tree/``, runs mypy on it with the
configuration of pyproject.toml, and prints each error with its path in the repository.
Usage: ``.venv/bin/python scripts/typecheck.py [mypy options]``; exit code is mypy's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".mypy_tree"


def build_tree() -> Path:
    """``.mypy_tree/mestudio/`` holds links to mestudio/'s entries and to every mapped stage folder."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    pkg = TREE / "mestudio"
    shutil.rmtree(pkg, ignore_errors=True)
    pkg.mkdir(parents=True)
    for entry in (ROOT / "mestudio").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for name, folder in mapping.items():
        if name != "mestudio":
            (pkg / name.split(".", 1)[1]).symlink_to(ROOT / folder)
    return pkg


def main(argv: list[str]) -> int:
    build_tree()
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "mestudio", *argv]
    run = subprocess.run(cmd, cwd=TREE, capture_output=True, text=True, env={**os.environ, "MYPY_FORCE_COLOR": "0"})
    prefixes = {f"mestudio/{p.name}/": f"{p.resolve().relative_to(ROOT)}/" for p in (TREE / "mestudio").iterdir()}
    for line in (run.stdout + run.stderr).splitlines():
        for tree_path, repo_path in prefixes.items():
            if line.startswith(tree_path):
                line = repo_path + line[len(tree_path) :]
                break
        print(line)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
