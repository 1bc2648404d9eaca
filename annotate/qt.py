"""The one place the annotation window loads Qt and pyqtgraph; the application starts as every
window's does (gui/app.py: the binding check, the QApplication, teardown)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mestudio.gui.app import load_qt, shutdown

if TYPE_CHECKING:
    import pyqtgraph as pg
    from PySide6 import QtCore, QtGui, QtWidgets
else:
    pg, QtCore, QtGui, QtWidgets = load_qt("the annotation window")

__all__ = ["QtCore", "QtGui", "QtWidgets", "application", "pg", "shutdown"]


def application() -> QtWidgets.QApplication:
    """The process's QApplication (made once, after the binding check)."""
    from mestudio.gui.app import application as start

    def configure(app: QtWidgets.QApplication) -> None:
        app.setStyle("Fusion")

    app = start("mestudio annotate", configure)
    # frames are (rows, columns) arrays; set whoever made the application
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="#15171c", foreground="#d6d9e0")
    return app
