"""Both windows start Qt one way (gui/app.py): the binding check comes before any QApplication."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

pytest.importorskip("PySide6")


def test_only_gui_makes_the_qapplication():
    makers = [
        f"{f.relative_to(ROOT)}"
        for pkg in ("monitor", "elicit", "mestudio", "analysis", "capture", "stream", "sync")
        for f in (ROOT / pkg).rglob("*.py")
        if re.search(r"\bQApplication\(", f.read_text(encoding="utf-8"))
    ]
    assert not makers, f"start Qt through mestudio.gui.app.application(), not here: {makers}"


def test_a_binding_that_would_crash_is_refused_before_a_window_opens(monkeypatch):
    import mestudio.gui.app as gui
    from mestudio.gui.errors import QtBindingError

    monkeypatch.setattr(gui, "binding_leaks_references", lambda calls=200: True)
    with pytest.raises(QtBindingError, match="none_dealloc.*PySide6-Essentials>=6.7,<6.12"):
        gui.application("mestudio-elicit")
    with pytest.raises(ImportError):  # QtBindingError is also the built-in it resembles
        gui.check_binding()
