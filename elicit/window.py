"""The participant window (PySide6): instructions, the clip with its photodiode patch, the survey.

Every ``show_*`` paints synchronously (``repaint``) and returns the host monotonic time right
after the frame was painted and flushed to the window system: the time a marker is stamped with.
Operator shortcuts (Ctrl+Shift+S start, P pause/resume, N skip, Q abort) reach the controller;
the participant only answers the survey.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from mestudio.elicit.protocol import Display, Question
from mestudio.stream import wire

SHORTCUTS = {"Ctrl+Shift+S": "start", "Ctrl+Shift+P": "pause-toggle", "Ctrl+Shift+N": "skip", "Ctrl+Shift+Q": "abort"}


class VideoWidget(QWidget):
    def __init__(self, display: Display, parent: QWidget) -> None:
        super().__init__(parent)
        self.display = display
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._image: QImage | None = None
        self._buf: np.ndarray | None = None  # keeps the QImage's memory alive
        self.diode = False
        self.paint_log: collections.deque[int] = collections.deque(maxlen=100_000)  # paint-end times

    def set_frame(self, rgb: np.ndarray, diode: bool) -> None:
        self._buf = np.ascontiguousarray(rgb)
        h, w, _ = self._buf.shape
        self._image = QImage(self._buf.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self.diode = diode

    def paintEvent(self, _event) -> None:  # Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(self.display.background))
        if self._image is not None:
            x = (self.width() - self._image.width()) // 2
            y = (self.height() - self._image.height()) // 2
            p.drawImage(x, y, self._image)
        if self.display.photodiode != "none":
            s = self.display.photodiode_px
            x = 0 if "left" in self.display.photodiode else self.width() - s
            y = 0 if "top" in self.display.photodiode else self.height() - s
            p.fillRect(x, y, s, s, QColor("#ffffff") if self.diode else QColor("#000000"))
        p.end()
        self.paint_log.append(wire.now_ns())


class SurveyForm(QWidget):
    def __init__(self, parent: QWidget, on_submit: Callable[[], None], font_px: int) -> None:
        super().__init__(parent)
        self._on_submit = on_submit
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(80, 40, 80, 40)
        self.inputs: dict[str, QButtonGroup | QLineEdit] = {}
        self.questions: list[Question] = []
        self.countdown = QLabel("", self)
        self.submit = QPushButton("Submit", self)
        self.submit.clicked.connect(self._submitted)
        self.title = QLabel("", self)
        self.font_px = font_px

    def build(self, title: str, questions: list[Question]) -> None:
        while self.layout_.count():
            item = self.layout_.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None and w not in (self.countdown, self.submit, self.title):
                w.deleteLater()
        self.inputs, self.questions = {}, list(questions)
        self.title.setText(f"About the clip you just watched: {title}")
        self.title.setStyleSheet(f"font-size: {self.font_px + 4}px; font-weight: bold;")
        self.layout_.addWidget(self.title)
        for q in questions:
            self.layout_.addWidget(QLabel(q.text, self))
            row = QWidget(self)
            grid: QGridLayout | QHBoxLayout = QGridLayout(row) if q.kind == "multi" else QHBoxLayout(row)
            if q.kind in ("choice", "multi", "scale"):
                group = QButtonGroup(row)
                group.setExclusive(q.kind != "multi")
                labels = q.options if q.kind != "scale" else [str(v) for v in range(q.min, q.max + 1)]
                if q.kind == "scale" and q.min_label:
                    grid.addWidget(QLabel(q.min_label, row))
                for i, lab in enumerate(labels):
                    b = (QCheckBox if q.kind == "multi" else QRadioButton)(lab, row)
                    group.addButton(b, i)
                    if isinstance(grid, QGridLayout):
                        grid.addWidget(b, i // 4, i % 4)
                    else:
                        grid.addWidget(b)
                if q.kind == "scale" and q.max_label:
                    grid.addWidget(QLabel(q.max_label, row))
                self.inputs[q.id] = group
            else:
                edit = QLineEdit(row)
                grid.addWidget(edit)
                self.inputs[q.id] = edit
            self.layout_.addWidget(row)
        self.layout_.addStretch(1)
        self.submit.setEnabled(True)
        self.layout_.addWidget(self.submit)
        self.countdown.setText("")
        self.layout_.addWidget(self.countdown)

    def answers(self) -> dict:
        out: dict = {}
        for q in self.questions:
            w = self.inputs[q.id]
            if isinstance(w, QLineEdit):
                out[q.id] = w.text()
                continue
            checked = [b.text() for b in w.buttons() if b.isChecked()]
            if q.kind == "multi":
                out[q.id] = checked
            elif q.kind == "scale":
                out[q.id] = int(checked[0]) if checked else None
            else:
                out[q.id] = checked[0] if checked else None
        return out

    def _submitted(self) -> None:
        self.submit.setEnabled(False)
        self._on_submit()


class ParticipantWindow(QWidget):
    def __init__(
        self,
        display: Display,
        on_submit: Callable[[], None],
        on_command: Callable[[str], None],
        screenshot_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.display = display
        self.setWindowTitle("mestudio - participant")
        font_px = 26
        self.setStyleSheet(
            f"QWidget {{ background: {display.background}; color: {display.text_color}; font-size: {font_px - 6}px; }}"
            " QPushButton { background: #3a3a3a; padding: 10px; }"
            " QCheckBox::indicator, QRadioButton::indicator { width: 20px; height: 20px;"
            " border: 2px solid #b0b0b0; background: #202020; }"
            " QRadioButton::indicator { border-radius: 12px; }"
            " QCheckBox::indicator:checked, QRadioButton::indicator:checked { background: #3fa7ff; }"
        )
        self.stack = QStackedLayout(self)
        self.text_page = QWidget(self)
        tl = QVBoxLayout(self.text_page)
        self.text = QLabel("", self.text_page)
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setStyleSheet(f"font-size: {font_px}px;")
        self.hint = QLabel("", self.text_page)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.count = QLabel("", self.text_page)
        self.count.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        tl.setContentsMargins(120, 60, 120, 60)
        tl.addWidget(self.text, 1)
        tl.addWidget(self.hint)
        tl.addWidget(self.count)
        self.video = VideoWidget(display, self)
        self.survey = SurveyForm(self, on_submit, font_px - 6)
        for w in (self.text_page, self.video, self.survey):
            self.stack.addWidget(w)
        self._shortcuts = []
        for keys, verb in SHORTCUTS.items():
            sc = QShortcut(QKeySequence(keys), self)
            sc.activated.connect(lambda v=verb: on_command(v))
            self._shortcuts.append(sc)
        self.survey_listeners: list[Callable[[], None]] = []
        self.shot_dir = screenshot_dir
        self._shots = 0
        self._video_frames = 0

    # -- the View of elicit/controller.py -------------------------------------------------------
    def _handed(self, widget: QWidget, shot: str = "") -> int:
        if self.stack.currentWidget() is not widget:
            self.stack.setCurrentWidget(widget)
        self.repaint()
        t = wire.now_ns()
        if shot and self.shot_dir is not None:
            self._shots += 1
            self.grab().save(str(self.shot_dir / f"{self._shots:03d}-{shot}.png"))
        return t

    def show_text(self, text: str, hint: str = "") -> int:
        self.text.setText(text)
        self.hint.setText(hint)
        self.count.setText("")
        self._video_frames = 0
        return self._handed(self.text_page, "text" if text else "")

    def show_frame(self, rgb, photodiode: bool) -> int:
        self.video.set_frame(rgb, photodiode)
        if self.stack.currentWidget() is not self.video:
            self.stack.setCurrentWidget(self.video)
        self.video.repaint()
        t = wire.now_ns()
        self._video_frames += 1
        if self.shot_dir is not None and self._video_frames in (1, 12):
            self._shots += 1
            name = "clip-onset" if self._video_frames == 1 else "clip-later"
            self.grab().save(str(self.shot_dir / f"{self._shots:03d}-{name}.png"))
        return t

    def show_survey(self, title: str, questions: list[Question]) -> int:
        self.survey.build(title, questions)
        self._video_frames = 0
        t = self._handed(self.survey, "survey")
        for f in self.survey_listeners:
            f()
        return t

    def set_countdown(self, seconds: int | None) -> None:
        text = "" if seconds is None else f"{seconds} s"
        label = self.survey.countdown if self.stack.currentWidget() is self.survey else self.count
        label.setText(text)

    def survey_answers(self) -> dict:
        return self.survey.answers()

    def video_size(self) -> tuple[int, int]:
        return max(2, self.width()), max(2, self.height())
