"""The Qt binding the monitor runs on keeps Python's reference counts right.

PySide6 6.12.0 on Python 3.11 returned None/True/False from C++ calls without a reference; each
call lowered their count until Python aborted with "Fatal Python error: none_dealloc" or
"bool_dealloc", mostly at interpreter exit after a window.  pyproject pins the gui extra below
6.12; these tests fail if a binding with that defect is installed again.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("PySide6")

from mestudio.monitor.qt import binding_leaks_references, check_binding
from tests.conftest import ROOT

HAMMER = """
import sys
from mestudio.monitor.qt import QtCore, QtGui, QtWidgets   # the binding itself, without the monitor's check
app = QtWidgets.QApplication([])
img = QtGui.QImage(64, 64, QtGui.QImage.Format.Format_ARGB32)
p = QtGui.QPainter(img)
pen = QtGui.QPen(QtGui.QColor("red"))
r = QtCore.QRectF(0, 0, 1, 1)
w = QtWidgets.QWidget()
for _ in range(40000):   # far more calls than None/True/False have references at start
    p.setPen(pen)        # void
    r.setWidth(2.0)      # void
    w.isVisible()        # bool
p.end()
print("ok", sys.getrefcount(None) > 1000)
"""


def test_the_installed_binding_does_not_drop_references():
    assert binding_leaks_references(2000) is False
    check_binding()  # would raise QtBindingError naming the fix


def test_a_process_making_many_qt_calls_exits_cleanly():
    r = subprocess.run(
        [sys.executable, "-c", HAMMER],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok True"
