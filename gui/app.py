"""The one Qt start-up path of both windows: check the binding, make the QApplication, tear it down.

Why the binding check: PySide6 6.12.0 wrappers hand back ``None``, ``True`` and ``False`` without
taking a reference.  From Python 3.12 on those objects are immortal and that is harmless; on 3.11
(our interpreter) every call of a void or bool C++ method lowers their reference count by one
until it reaches zero and Python aborts with "Fatal Python error: none_dealloc" or
"bool_dealloc", often while the interpreter shuts down (docs/platform-notes.md).  6.7 to 6.11.3
are correct.  We measure it rather than trust a version number.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from mestudio.gui.errors import QtBindingError

if TYPE_CHECKING:
    from PySide6 import QtWidgets

FIX = "pip install 'PySide6-Essentials>=6.7,<6.12' 'shiboken6<6.12' (or scripts/install.sh)"
QUIET_QT_MESSAGES = ("propagateSizeHints",)  # the offscreen platform's note on every window


def binding_leaks_references(calls: int = 200) -> bool:
    """True when calling Qt methods lowers the reference count of None or False (see above)."""
    from PySide6 import QtCore

    rect = QtCore.QRectF(0.0, 0.0, 1.0, 1.0)
    before = (sys.getrefcount(None), sys.getrefcount(False))
    for _ in range(calls):
        rect.setWidth(1.0)  # void
        rect.isNull()  # bool, False
    after = (sys.getrefcount(None), sys.getrefcount(False))
    return any(b - a > calls // 2 for a, b in zip(after, before))


def check_binding(window: str = "this window") -> None:
    """Refuse to open a window without PySide6, or with a binding that would crash this interpreter."""
    try:
        import PySide6
    except ImportError as e:
        raise QtBindingError(f"{window} needs PySide6 ({e}); install it: {FIX}") from None
    if binding_leaks_references():
        raise QtBindingError(
            f"PySide6 {PySide6.__version__} drops references to None/True/False on Python "
            f"{sys.version_info.major}.{sys.version_info.minor} and would crash it "
            f"(Fatal Python error: none_dealloc); install a correct one: {FIX}"
        )


def load_qt(window: str) -> tuple:
    """pyqtgraph (on PySide6) and the Qt modules a window uses, or one error saying what to install."""
    import os

    try:
        os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
        import pyqtgraph as pg
        from PySide6 import QtCore, QtGui, QtWidgets
    except ImportError as e:
        raise QtBindingError(
            f"{window} needs pyqtgraph and PySide6 ({e}); install them with "
            f"pip install 'mestudio[gui]' or scripts/install.sh"
        ) from None
    return pg, QtCore, QtGui, QtWidgets


def _qt_message(mode, context, message: str) -> None:
    if not any(q in message for q in QUIET_QT_MESSAGES):
        print(f"qt: {message}", file=sys.stderr)


def application(name: str, configure: Callable[[QtWidgets.QApplication], None] | None = None) -> QtWidgets.QApplication:
    """The process's QApplication, after the binding check; made once (``configure`` runs then)."""
    check_binding(name)
    from PySide6 import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.qInstallMessageHandler(_qt_message)
        app = QtWidgets.QApplication([name])
        app.setApplicationName(name)
        if configure is not None:
            configure(app)
    assert isinstance(app, QtWidgets.QApplication)  # a widget application, not a bare QCoreApplication
    return app


def shutdown(app: QtWidgets.QApplication, *windows: QtWidgets.QWidget) -> None:
    """Close windows and let Qt delete them while Python is still fully alive.

    Deleting widgets now, in a known order, keeps their destruction out of interpreter
    finalization, where Python objects they call back into may already be gone.
    """
    from PySide6 import QtCore

    for w in windows:
        w.close()
        w.deleteLater()
    app.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    app.processEvents()
