"""A scripted participant for demos and tests: answers each survey of the participant window with real clicks.

Kept out of the window module: a session with a real participant never loads it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QLineEdit

from mestudio.elicit.window import ParticipantWindow


class SimulatedParticipant:
    """Answers each survey through real clicks (QTest) after ``delay_ms``: demos and tests only.

    It ticks the clip's target emotions where they are options (else the first option), the
    middle of each scale, and types "simulated" into text answers, then presses Submit."""

    def __init__(self, window: ParticipantWindow, emotions_of: Callable[[], list[str]], delay_ms: int = 300) -> None:
        self.window, self.emotions_of, self.delay_ms = window, emotions_of, delay_ms

    def survey_shown(self) -> None:
        QTimer.singleShot(self.delay_ms, self._answer)

    def _answer(self) -> None:
        from PySide6.QtTest import QTest

        form = self.window.survey
        if self.window.stack.currentWidget() is not form:
            return
        wanted = set(self.emotions_of())
        for q in form.questions:
            w = form.inputs[q.id]
            if isinstance(w, QLineEdit):
                QTest.keyClicks(w, "simulated")
                continue
            buttons = w.buttons()
            if q.kind == "multi":
                picks = [b for b in buttons if b.text() in wanted] or buttons[:1]
            else:
                picks = [b for b in buttons if b.text() in wanted][:1] or [buttons[len(buttons) // 2]]
            for b in picks:  # on the indicator: a wide cell's centre may be empty space
                QTest.mouseClick(
                    b, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(12, b.height() // 2)
                )
        QTest.mouseClick(form.submit, Qt.MouseButton.LeftButton)
