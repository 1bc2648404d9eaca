"""Access control: private ipc runtime folders, a private live registry, owner-only session files."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from mestudio.stream import live
from mestudio.stream.bus import Endpoints
from mestudio.stream.private import PrivateFolderError, ensure_private_dir
from tests.conftest import SMALL_RIG, mestudio, write_config
from tests.session_helpers import manifest, session_dir, start_run, stop, wait_recording

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def _ipc_dir(eps: Endpoints) -> Path:
    return Path(eps.control.removeprefix("ipc://")).parent


def test_ipc_sockets_get_a_new_private_folder_with_an_unpredictable_name(tmp_path):
    a = Endpoints.plan("ipc", "", 0, ["cam"], key=str(tmp_path))
    b = Endpoints.plan("ipc", "", 0, ["cam"], key=str(tmp_path))
    try:
        da, db = _ipc_dir(a), _ipc_dir(b)
        assert da != db  # the same session key does not give the same (guessable) folder
        for d in (da, db):
            assert _mode(d) == 0o700 and os.lstat(d).st_uid == os.geteuid()
    finally:
        a.remove_ipc_files()
        b.remove_ipc_files()
    assert not da.exists() and not db.exists()


def test_a_runtime_folder_open_to_others_or_a_link_is_refused(tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    with pytest.raises(PrivateFolderError, match="mode 0755 lets other users in"):
        Endpoints.plan("ipc", "", 0, ["cam"], runtime_dir=open_dir)
    (tmp_path / "link").symlink_to(open_dir)
    with pytest.raises(PrivateFolderError, match="found a link"):
        ensure_private_dir(tmp_path / "link")
    assert isinstance(PrivateFolderError("x"), PermissionError)


@as_root
def test_a_folder_another_user_made_first_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(PrivateFolderError, match=f"owned by uid {NOBODY}, not by this user"):
        Endpoints.plan("ipc", "", 0, ["cam"], runtime_dir=theirs)
    cfg = write_config(tmp_path / "c.toml", SMALL_RIG.replace("[transport]", f'[transport]\nruntime_dir = "{theirs}"'))
    r = mestudio("run", str(cfg), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "[transport] runtime_dir:" in r.stderr and "owned by uid" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_the_live_registry_is_private(tmp_path, monkeypatch):
    d = tmp_path / "live"
    monkeypatch.setattr(live, "LIVE_DIR", d)
    eps = Endpoints("ipc:///x/r", "ipc:///x/c", "ipc:///x/m", "ipc:///x/b")
    entry = live.announce("session", "s", eps, tmp_path)
    assert _mode(d) == 0o700 and _mode(entry) == 0o600
    assert [e.label for e in live.list_live()] == ["s"]
    live.withdraw(entry)
    d.chmod(0o777)  # someone opened it up: its entries can no longer be trusted
    with pytest.raises(PrivateFolderError):
        live.list_live()
    with pytest.raises(PrivateFolderError):
        live.announce("session", "s", eps, tmp_path)


def _session_modes(root: Path) -> tuple[set[int], set[int]]:
    dirs, files = {_mode(root)}, set()
    for p in root.rglob("*"):
        (dirs if p.is_dir() else files).add(_mode(p))
    return dirs, files


@pytest.mark.slow
def test_session_folders_are_owner_only_and_other_users_cannot_reach_the_sockets(tmp_path):
    rig = write_config(tmp_path / "rig.toml", SMALL_RIG)
    proc = start_run(rig, tmp_path / "out")
    root = session_dir(tmp_path / "out")
    try:
        wait_recording(root, "cam", 10)
        commands = Endpoints.load(root).commands.removeprefix("ipc://")
        if os.geteuid() == 0 and shutil.which("python3", path="/usr/bin"):
            # another local user tries the operator's command socket, as its zmq would: refused
            knock = "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])"
            r = subprocess.run(
                ["/usr/bin/python3", "-c", knock, commands], user=NOBODY, capture_output=True, text=True, cwd="/"
            )
            assert r.returncode != 0 and "PermissionError" in r.stderr
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    dirs, files = _session_modes(root)
    assert dirs == {0o700} and files == {0o600}, (dirs, files)
    assert manifest(root)["status"] == "complete"


@pytest.mark.slow
def test_a_lab_group_gets_read_access(tmp_path):
    # root may give a folder to any group; another user only to one of its own
    gid = grp.getgrnam("daemon").gr_gid if os.geteuid() == 0 else os.getgid()
    group = grp.getgrgid(gid).gr_name
    rig = write_config(
        tmp_path / "rig.toml", SMALL_RIG.replace('participant = "P01"', f'participant = "P01"\ngroup = "{group}"')
    )
    r = mestudio("run", str(rig), "--duration", "1", "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    root = session_dir(tmp_path / "out")
    assert _mode(root) == 0o2750 and os.stat(root).st_gid == gid
    dirs, files = _session_modes(root)
    assert {d & 0o777 for d in dirs} == {0o750} and files == {0o640}, (dirs, files)
    assert {p.stat().st_gid for p in root.rglob("*")} == {gid}  # setgid: everything inside keeps the group


def test_an_unknown_lab_group_is_refused_before_the_session_folder(tmp_path):
    rig = write_config(
        tmp_path / "rig.toml", SMALL_RIG.replace('participant = "P01"', 'participant = "P01"\ngroup = "nolab-xyz"')
    )
    r = mestudio("run", str(rig), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "[session] group: this host has no group 'nolab-xyz'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
