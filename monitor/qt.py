"""The one place the monitor loads Qt and pyqtgraph; the application itself starts as every window's
does (gui/app.py: the binding check, the QApplication, teardown), here with the monitor's look."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mestudio.gui.app import binding_leaks_references, check_binding, load_qt, shutdown

if TYPE_CHECKING:
    import pyqtgraph as pg
    from PySide6 import QtCore, QtGui, QtWidgets
else:
    pg, QtCore, QtGui, QtWidgets = load_qt("the monitor")

__all__ = ["QtCore", "QtGui", "QtWidgets", "application", "binding_leaks_references", "check_binding", "pg", "shutdown"]


def application() -> QtWidgets.QApplication:
    """The process's QApplication (made once, after the binding check); dark, readable defaults."""
    from mestudio.gui.app import application as start

    def configure(app: QtWidgets.QApplication) -> None:
        pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="#15171c", foreground="#d6d9e0")
        app.setStyle("Fusion")
        app.setPalette(_dark_palette())

    return start("mestudio monitor", configure)


def _dark_palette() -> QtGui.QPalette:
    role_of, colour_of = QtGui.QPalette.ColorRole, QtGui.QColor
    pal = QtGui.QPalette()
    for role, colour in (
        (role_of.Window, "#1d2026"),
        (role_of.WindowText, "#d6d9e0"),
        (role_of.Base, "#15171c"),
        (role_of.AlternateBase, "#20242b"),
        (role_of.Text, "#d6d9e0"),
        (role_of.Button, "#2a2f38"),
        (role_of.ButtonText, "#e6e8ee"),
        (role_of.Highlight, "#3d7eff"),
        (role_of.HighlightedText, "#ffffff"),
        (role_of.ToolTipBase, "#2a2f38"),
        (role_of.ToolTipText, "#e6e8ee"),
        (role_of.PlaceholderText, "#7f8694"),
    ):
        pal.setColor(role, colour_of(colour))
    return pal
