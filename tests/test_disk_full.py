"""A real full disk (ENOSPC on a small tmpfs): the recorder stops with exit 3 and says why, the
manifest says "disk full", and everything written before stays readable."""

from __future__ import annotations

import json
import subprocess

import pytest

from mestudio.capture.pattern import read_stamp
from mestudio.stream.session_reader import SessionReader
from tests.conftest import SMALL_RIG, mestudio, write_config
from tests.session_helpers import manifest, session_dir, start_run, stop


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs of our own (needs root, or CAP_SYS_ADMIN); skipped cleanly without."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_enospc_stops_the_recorder_with_its_reason_and_a_disk_full_manifest(tmp_path, small_disk):
    cfg = write_config(tmp_path / "rig.toml", SMALL_RIG + "[recorder]\nmin_free_mb = 0\n")
    proc = start_run(cfg, small_disk, "--duration", "60")
    code, out, err = stop(proc, sig=0)  # no signal: the full disk ends it
    root = session_dir(small_disk)
    assert code != 0 and "recorder (recorder) exited with code 3" in err, err
    rec = json.loads((root / "recorder.json").read_text())
    assert "disk full" in rec["stopped_because"] and "No space left on device" in rec["stopped_because"]
    m = manifest(root)
    assert m["status"] == "disk full" and any("disk full" in p for p in m["problems"])
    assert "disk full" in (root / "logs" / "recorder.log").read_text()
    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    assert not v["ok"] and v["status"] == "disk full"
    cam = SessionReader(root).stream("cam")
    assert len(cam) > 20
    for r, frame in cam.frames():  # every frame kept is the one its device made
        assert read_stamp(frame) == r["seq"]
