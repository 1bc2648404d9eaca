"""A process that keeps freed frame buffers reuses them: far fewer page faults per frame.

Each variant runs in a fresh interpreter (mallopt is process-wide); the page faults come from
the kernel's own count (getrusage), not from anything the code under test reports.
"""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

CHILD = """
import resource, sys
import numpy as np
from mestudio.stream.buffers import keep_freed_buffers
ok = keep_freed_buffers() if sys.argv[1] == "keep" else None
src = np.ones((1200, 1600), np.uint8)
frames = [src.copy() for _ in range(6)]  # warm: the heap has grown to a frame set's size
del frames
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # six cameras' copies in flight, freed once sent (as in a Basler node)
    frames = [src.copy() for _ in range(6)]
    del frames
print(ok, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 120)
"""


def _faults_per_frame(variant: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, variant], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ok, faults = out.stdout.split()
    return ok, float(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_kept_buffers_are_reused_instead_of_faulted_in_anew():
    ok, kept = _faults_per_frame("keep")
    _, default = _faults_per_frame("default")
    assert ok == "True"
    assert kept < 10 and default > 100, (kept, default)  # 1.92 MB is 469 pages
