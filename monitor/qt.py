"""The one place the monitor loads Qt: checks the binding, makes the QApplication, tears it down.

Why the binding check: PySide6 6.12.0 wrappers hand back ``None``, ``True`` and ``False`` without
taking a reference.  From Python 3.12 on those objects are immortal and that is harmless; on 3.11
(our interpreter) every call of a void or bool C++ method lowers their reference count by one
until it reaches zero and Python aborts with "Fatal Python error: none_dealloc" or
"bool_dealloc", often while the interpreter shuts down (the crash at exit in docs/platform-notes.md).
6.7 to 6.11.3 are correct.  We measure it rather than trust a version number.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from mestudio.monitor.errors import QtBindingError

FIX = "pip install 'PySide6-Essentials>=6.7,<6.12' 'shiboken6<6.12' (or scripts/install.sh)"


def _load():
    try:
        os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
        import pyqtgraph as pg
        from PySide6 import QtCore, QtGui, QtWidgets
    except ImportError as e:
        raise QtBindingError(
            f"the monitor needs pyqtgraph and PySide6 ({e}); install them with "
            f"pip install 'mestudio[gui]' or scripts/install.sh"
        ) from None
    return pg, QtCore, QtGui, QtWidgets


if TYPE_CHECKING:
    import pyqtgraph as pg
    from PySide6 import QtCore, QtGui, QtWidgets
else:
    pg, QtCore, QtGui, QtWidgets = _load()


def binding_leaks_references(calls: int = 200) -> bool:
    """True when calling Qt methods lowers the reference count of None or False (see above)."""
    rect = QtCore.QRectF(0.0, 0.0, 1.0, 1.0)
    before = (sys.getrefcount(None), sys.getrefcount(False))
    for _ in range(calls):
        rect.setWidth(1.0)  # void
        rect.isNull()  # bool, False
    after = (sys.getrefcount(None), sys.getrefcount(False))
    return any(b - a > calls // 2 for a, b in zip(after, before))


def check_binding() -> None:
    """Refuse to open a window with a binding that would crash this interpreter."""
    import PySide6

    if binding_leaks_references():
        raise QtBindingError(
            f"PySide6 {PySide6.__version__} drops references to None/True/False on Python "
            f"{sys.version_info.major}.{sys.version_info.minor} and would crash it "
            f"(Fatal Python error: none_dealloc); install a correct one: {FIX}"
        )


def application() -> QtWidgets.QApplication:
    """The process's QApplication (made once), after the binding check; dark, readable defaults."""
    check_binding()
    app = QtWidgets.QApplication.instance()
    if app is None:
        pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="#15171c", foreground="#d6d9e0")
        QtCore.qInstallMessageHandler(_qt_message)
        app = QtWidgets.QApplication(sys.argv[:1])
        app.setApplicationName("mestudio monitor")
        app.setStyle("Fusion")
        app.setPalette(_dark_palette())
    assert isinstance(app, QtWidgets.QApplication)  # a widget application, not a bare QCoreApplication
    return app


QUIET_QT_MESSAGES = ("propagateSizeHints",)  # the offscreen platform's note on every window


def _qt_message(mode, context, message: str) -> None:
    if not any(q in message for q in QUIET_QT_MESSAGES):
        print(f"qt: {message}", file=sys.stderr)


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


def shutdown(app: QtWidgets.QApplication, *windows: QtWidgets.QWidget) -> None:
    """Close windows and let Qt delete them while Python is still fully alive.

    Deleting widgets now, in a known order, keeps their destruction out of interpreter
    finalization, where Python objects they call back into may already be gone.
    """
    for w in windows:
        w.close()
        w.deleteLater()
    app.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    app.processEvents()
