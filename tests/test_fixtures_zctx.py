"""The `zctx` fixture fails a test that leaves a ZeroMQ socket open (run on a scratch test file)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SCRATCH = """
import zmq

KEPT = []  # held past the test, as a thread or an object the test forgot to close would hold it

def test_leaves_a_socket_open(zctx):
    KEPT.append(zctx.socket(zmq.PUB))
    KEPT[-1].bind("inproc://leak")

def test_closes_its_socket(zctx):
    s = zctx.socket(zmq.SUB)
    s.close()
"""


def test_a_leaked_socket_fails_the_test_and_a_closed_one_passes(tmp_path):
    (tmp_path / "test_scratch.py").write_text(SCRATCH)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "--rootdir", str(tmp_path), "-c", os.devnull]
        + [str(tmp_path / "test_scratch.py"), "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "2 passed" in out and "1 error" in out, out  # the leaking test errors at its teardown
    assert "left 1 ZeroMQ socket(s) open (PUB)" in out, out
