"""The recorder runs in a session of its own (its own scheduling group under Linux autogroup), and
still stops and finishes its files when the supervisor stops the session."""

from __future__ import annotations

import os

import pytest

from mestudio.config.loader import load_session_config
from mestudio.session_run import run_session
from mestudio.stream.session_reader import SessionReader
from tests.conftest import SMALL_RIG, write_config


@pytest.mark.slow
def test_the_recorder_has_a_session_of_its_own_and_records_the_rig(tmp_path):
    path = write_config(tmp_path / "rig.toml", SMALL_RIG)
    cfg = load_session_config(path)
    seen: dict[str, int] = {}

    def progress(sup) -> None:
        for name, child in sup.children.items():
            if child.proc is not None and child.proc.poll() is None:
                seen[name] = os.getsid(child.proc.pid)
                seen[name + "_pid"] = child.proc.pid

    result = run_session(cfg, path.read_text(), out=tmp_path / "out", duration_s=2.5, on_progress=progress)
    assert not result.problems
    assert seen["recorder"] == seen["recorder_pid"]  # a session leader: its own session
    assert seen["cam"] == os.getsid(0) != seen["recorder"]  # the device nodes stay in the supervisor's
    reader = SessionReader(result.path)
    assert len(reader.stream("cam")) > 30 and reader.recorder_report()["stopped_because"] == "stopped"
