"""What `pip install` puts into a user's environment: one package, `mestudio`, whatever folder it runs from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SMALL_RIG
from tests.session_helpers import assert_only_source_losses

STAGES = (
    "capture",
    "sync",
    "stream",
    "elicit",
    "analysis",
    "monitor",
    "config",
    "gui",
    "reconstruct",
    "interop",
    "annotate",
)


def _packages_on_disk() -> set[str]:
    found = set()
    for top in ("mestudio", *STAGES):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = ".".join(init.parent.relative_to(ROOT).parts)
            found.add(rel if top == "mestudio" else f"mestudio.{rel}")
    return found


def test_pyproject_lists_every_package_folder():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(tool["packages"]) == _packages_on_disk()
    assert tool["package-dir"] == {"mestudio": "mestudio", **{f"mestudio.{s}": s for s in STAGES}}


def _hostile_lab_folder(where: Path, *also: str) -> Path:
    """A lab's working folder with packages named like our stages, each failing loudly when imported."""
    for name in ("config", "sync", "stream", "capture", "analysis", *also):
        (where / name).mkdir(parents=True)
        (where / name / "__init__.py").write_text(f"raise ImportError('the lab folder\\'s own {name} was imported')\n")
    (where / "rig.toml").write_text(SMALL_RIG)
    return where


def _run_from(lab: Path, argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd=lab, timeout=240, env=env)


@pytest.mark.slow
def test_a_session_runs_from_a_folder_holding_config_and_sync(tmp_path):
    lab = _hostile_lab_folder(tmp_path / "lab")
    # python -m puts the working directory first on sys.path: the children must still be ours
    r = _run_from(
        lab, [sys.executable, "-m", "mestudio", "run", "rig.toml", "--duration", "1", "--out", "out", "--quiet"]
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (session,) = (lab / "out").glob("*/manifest.json")
    v = _run_from(lab, [sys.executable, "-m", "mestudio", "verify", str(session.parent), "--json"])
    assert_only_source_losses(json.loads(v.stdout))


@pytest.mark.slow
def test_the_wheel_installs_only_mestudio_and_runs_a_session(tmp_path):
    # build from a copy of the tracked files: setuptools leaves build/ beside the sources it builds
    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    wheels = tmp_path / "wheels"
    b = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert b.returncode == 0, b.stderr[-3000:]
    (whl,) = wheels.glob("mestudio-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(whl).namelist()}
    assert tops == {"mestudio", whl.name.split("-")[0] + "-" + whl.name.split("-")[1] + ".dist-info"}
    names = zipfile.ZipFile(whl).namelist()
    assert "mestudio/config/demo.toml" in names and "mestudio/capture/face/__init__.py" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    # the wheel alone in its own site-packages; its dependencies borrowed from this environment
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", "--no-deps", str(whl)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    borrowed = [sysconfig.get_paths()["purelib"], *(p for p in sys.path if p.endswith("site-packages"))]
    (site / "_deps.pth").write_text("\n".join(dict.fromkeys(borrowed)) + "\n")
    installed = {p.name for p in site.iterdir()} - {"_deps.pth", "__pycache__"}
    assert {n for n in installed if not n.endswith((".dist-info", ".pth"))} == {"mestudio"}

    lab = _hostile_lab_folder(tmp_path / "lab", "mestudio")  # even a `mestudio/`: the node processes run -P
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = _run_from(
        lab,
        [str(venv / "bin" / "python"), "-P", "-c", "import mestudio.config; print(mestudio.config.__file__)"],
        env=env,
    )
    assert where.returncode == 0 and where.stdout.startswith(str(site)), where.stdout + where.stderr
    r = _run_from(
        lab, [str(venv / "bin" / "mestudio"), "run", "rig.toml", "--duration", "1", "--out", "out", "--quiet"], env=env
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (session,) = (lab / "out").glob("*/manifest.json")
    v = _run_from(lab, [str(venv / "bin" / "mestudio"), "verify", str(session.parent), "--json"], env=env)
    assert_only_source_losses(json.loads(v.stdout))
