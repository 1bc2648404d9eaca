"""The annotation window: the frame (and another camera), a timeline with the spotting score,
candidate events, clips, protocol phases and operator marks, the per-frame AU traces, and the
panel of the selected clip (AUs, major AU, note, Table 4's emotion and its override).

Every key calls one action of annotate.state.AnnotationState (docs/annotate.md lists them); the
window only shows the state.  Playback is frame-accurate: each timer tick moves whole frames of
the source, never a time that falls between them.
"""

from __future__ import annotations

from pathlib import Path

from mestudio.analysis.emotion import EMOTIONS
from mestudio.annotate.errors import AnnotateError
from mestudio.annotate.qt import QtCore, QtGui, QtWidgets, pg
from mestudio.annotate.state import AnnotationState

Key = QtCore.Qt.Key
CLIP_RGBA = (60, 200, 120, 90)
SELECTED_RGBA = (60, 230, 140, 150)
CANDIDATE_RGBA = {"open": (240, 200, 40, 80), "accepted": (120, 160, 120, 40), "rejected": (120, 120, 120, 40)}
PHASE_RGBA = (70, 110, 230, 35)
AU_COLOURS = ("#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6")
OVERRIDE_CHOICES = ("Table 4", *EMOTIONS, "None")


class AnnotateWindow(QtWidgets.QMainWindow):
    def __init__(self, state: AnnotationState) -> None:
        super().__init__()
        self.state = state
        self.view_index = 0  # which other camera is shown beside the frame
        self.setWindowTitle(f"mestudio annotate — {state.source.label} — {state.file.annotator}")
        self._regions: list = []
        self._build()
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.tick)
        self.refresh(full=True)

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        central = QtWidgets.QWidget()
        root = QtWidgets.QVBoxLayout(central)
        self.header = QtWidgets.QLabel()
        self.header.setStyleSheet("font-size: 12pt;")
        self.status = QtWidgets.QLabel()
        self.status.setStyleSheet("color: #aab;")
        root.addWidget(self.header)
        frames = pg.GraphicsLayoutWidget()
        self.frame_box = frames.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem()
        self.frame_box.addItem(self.image)
        self.other_box = None
        self.other = None
        if self.state.source.views:
            self.other_box = frames.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
            self.other = pg.ImageItem()
            self.other_box.addItem(self.other)
        self.frames_view = frames
        side = self._panel()
        top = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        top.addWidget(frames)
        top.addWidget(side)
        top.setSizes([1000, 420])
        self.timeline = pg.PlotWidget()
        self.timeline.setMouseEnabled(x=True, y=False)
        self.timeline.setLabel("left", "spotting score")
        self.timeline.setMinimumHeight(170)
        self.traces = pg.PlotWidget()
        self.traces.setXLink(self.timeline)
        self.traces.setMouseEnabled(x=True, y=False)
        self.traces.setLabel("left", "AU intensity")
        self.traces.setLabel("bottom", "frame number")
        self.traces.addLegend(offset=(5, 5), labelTextSize="7pt")
        self.traces.setMinimumHeight(130)
        self._draw_static_timeline()
        for plot in (self.timeline, self.traces):  # a click on either goes to that frame
            plot.scene().sigMouseClicked.connect(lambda ev, p=plot: self._clicked(ev, p))
        self.cursor_line = pg.InfiniteLine(0, pen=pg.mkPen("#ffffff", width=1.5))
        self.au_cursor_line = pg.InfiniteLine(0, pen=pg.mkPen("#ffffff", width=1.0))
        self.timeline.addItem(self.cursor_line)
        self.traces.addItem(self.au_cursor_line)
        self.draft_lines = {p: pg.InfiniteLine(0, pen=pg.mkPen(c, width=2)) for p, c in DRAFT_COLOURS.items()}
        for line in self.draft_lines.values():
            line.hide()
            self.timeline.addItem(line)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.timeline)
        split.addWidget(self.traces)
        split.setSizes([560, 200, 150])
        root.addWidget(split, 1)
        root.addWidget(self.status)
        for w in (frames, self.timeline, self.traces):
            w.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.setCentralWidget(central)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.resize(1440, 960)

    def _panel(self) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(box)
        self.clip_list = QtWidgets.QListWidget()
        self.clip_list.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.clip_list.itemClicked.connect(
            lambda item: self._do(self.state.select, item.data(QtCore.Qt.ItemDataRole.UserRole))
        )
        self.clip_title = QtWidgets.QLabel("no clip selected")
        self.clip_title.setStyleSheet("font-weight: 700;")
        self.au_edit = QtWidgets.QLineEdit()
        self.au_edit.setPlaceholderText("1B+2B+R12A+14(k)   (U, then Enter)")
        self.au_edit.returnPressed.connect(lambda: self._edit_done(self.state.set_aus, self.au_edit.text()))
        self.major_edit = QtWidgets.QLineEdit()
        self.major_edit.setPlaceholderText("the AU deciding the phases (M)")
        self.major_edit.returnPressed.connect(self._major_done)
        self.note_edit = QtWidgets.QLineEdit()
        self.note_edit.setPlaceholderText("note (T)")
        self.note_edit.returnPressed.connect(lambda: self._edit_done(self.state.set_note, self.note_edit.text()))
        self.table4 = QtWidgets.QLabel("—")
        self.table4.setWordWrap(True)
        self.override = QtWidgets.QComboBox()
        self.override.addItems(OVERRIDE_CHOICES)
        self.override.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.reason_edit = QtWidgets.QLineEdit()
        self.reason_edit.setPlaceholderText("why Table 4 is overridden (E, then Enter)")
        self.reason_edit.returnPressed.connect(self._override_done)
        self.kind = QtWidgets.QLabel("—")
        form.addRow(QtWidgets.QLabel("clips"))
        form.addRow(self.clip_list)
        form.addRow(self.clip_title)
        form.addRow("AUs", self.au_edit)
        form.addRow("major AU", self.major_edit)
        form.addRow("note", self.note_edit)
        form.addRow("Table 4", self.table4)
        form.addRow("override", self.override)
        form.addRow("reason", self.reason_edit)
        form.addRow("duration", self.kind)
        return box

    def _draw_static_timeline(self) -> None:
        tl, nums = self.state.timeline, self.state.source.numbers
        self.timeline.setXRange(int(nums[0]), max(int(nums[-1]), int(nums[0]) + 1), padding=0.01)
        for a, z, text in tl.phases:
            a, z = int(nums[a]), int(nums[z])
            r = pg.LinearRegionItem((a, z), movable=False, brush=pg.mkBrush(*PHASE_RGBA), pen=pg.mkPen(None))
            r.setZValue(-20)
            self.timeline.addItem(r)
            label = pg.TextItem(text, color="#8fa8ff", anchor=(0, 0))
            label.setPos(a, 0)
            self.timeline.addItem(label)
        for p, text in tl.marks:
            self.timeline.addItem(
                pg.InfiniteLine(
                    int(nums[p]), pen=pg.mkPen("#ff9f40", width=1.5, style=QtCore.Qt.PenStyle.DashLine), label=text
                )
            )
        if len(tl.score):
            self.timeline.plot(nums[tl.score_pos], tl.score, pen=pg.mkPen("#d0d4dc", width=1))
        if tl.threshold is not None:
            self.timeline.addItem(pg.InfiniteLine(tl.threshold, angle=0, pen=pg.mkPen("#ff5060", width=1)))
        for k, (name, values) in enumerate(tl.au.items()):
            self.traces.plot(nums[tl.au_pos], values, pen=pg.mkPen(AU_COLOURS[k % len(AU_COLOURS)], width=1), name=name)

    # -- showing the state ---------------------------------------------------------------------
    def refresh(self, full: bool = False) -> None:
        st = self.state
        frame = st.source.frame(st.pos)
        self.image.setImage(frame, autoLevels=False, levels=(0, 255))
        if self.other is not None and st.source.views:
            view = st.source.views[self.view_index % len(st.source.views)]
            img = st.source.view(view, st.pos)
            if img is not None:
                self.other.setImage(img, autoLevels=False, levels=(0, 255))
        self.cursor_line.setValue(st.number)
        self.au_cursor_line.setValue(st.number)
        for phase, line in self.draft_lines.items():
            if phase in st.draft:
                line.setValue(int(st.source.numbers[st.draft[phase]]))
                line.show()
            else:
                line.hide()
        speed = "paused" if not st.speed else f"{'◀' if st.speed < 0 else '▶'} {abs(st.speed):g}x"
        self.header.setText(
            f"<b>{st.source.label}</b> &nbsp; annotator <b>{st.file.annotator}</b> &nbsp; "
            f"frame <b>{st.number}</b> ({st.pos + 1}/{st.count}) &nbsp; "
            f"{float(st.source.times_s[st.pos]):.3f} s &nbsp; {speed}"
        )
        self.status.setText(st.message)
        if full:
            self._refresh_labels()

    def _refresh_labels(self) -> None:
        st = self.state
        for r in self._regions:
            self.timeline.removeItem(r)
        self._regions = []
        for cand in st.candidates:
            self._region(cand.onset, cand.offset, CANDIDATE_RGBA[st.candidate_status(cand.index)], -10)
        self.clip_list.clear()
        for cid in st.clips:
            v = st.view(cid)
            self._region(v.clip.onset, v.clip.offset, SELECTED_RGBA if cid == st.selected else CLIP_RGBA, -5)
            c = v.clip
            item = QtWidgets.QListWidgetItem(
                f"{cid}  {c.onset}-{c.apex if c.apex is not None else '?'}-{c.offset}  "
                f"{'+'.join(str(a) for a in c.aus) or '-'}  {v.emotion}  {v.kind}"
            )
            item.setData(QtCore.Qt.ItemDataRole.UserRole, cid)
            self.clip_list.addItem(item)
            if cid == st.selected:
                item.setSelected(True)
        self._refresh_clip_panel()

    def _region(self, a: int, z: int, rgba: tuple, zvalue: int) -> None:
        r = pg.LinearRegionItem((a, z), movable=False, brush=pg.mkBrush(*rgba), pen=pg.mkPen(rgba[:3] + (200,)))
        r.setZValue(zvalue)
        self.timeline.addItem(r)
        self._regions.append(r)

    def _refresh_clip_panel(self) -> None:
        st = self.state
        if st.selected is None or st.selected not in st.clips:
            self.clip_title.setText("no clip selected: mark I / O, then Enter")
            for w in (self.au_edit, self.major_edit, self.note_edit, self.reason_edit):
                w.clear()
            self.table4.setText("—")
            self.kind.setText("—")
            return
        v = st.view(st.selected)
        c = v.clip
        self.clip_title.setText(f"{c.id}: frames {c.onset} - {c.apex if c.apex is not None else '?'} - {c.offset}")
        self.au_edit.setText("+".join(str(a) for a in c.aus))
        self.major_edit.setText("" if c.major_au is None else str(c.major_au))
        self.note_edit.setText(c.note)
        t4 = v.table4
        self.table4.setText(
            f"<b>{t4.label}</b> ({t4.rule})"
            + (f"; overridden: <b>{c.emotion_override}</b> — {c.override_reason}" if c.emotion_override else "")
        )
        self.override.setCurrentText(c.emotion_override or "Table 4")
        self.reason_edit.setText(c.override_reason)
        self.kind.setText(f"{v.duration_s * 1e3:.0f} ms: {v.kind}")

    # -- actions -------------------------------------------------------------------------------
    def _do(self, action, *args, labels: bool = True) -> bool:
        """Run one state action; a refused one is said on the status line, never raised.
        ``labels``: the action may change the labels (redraw the clips), not only move."""
        try:
            action(*args)
        except AnnotateError as e:
            self.state.message = f"⚠ {e}"
            self.refresh(full=False)
            return False
        self._sync_timer()
        self.refresh(full=labels)
        return True

    def _clicked(self, ev, plot) -> None:
        vb = plot.getPlotItem().getViewBox()
        if vb.sceneBoundingRect().contains(ev.scenePos()):
            self.seek_to_x(vb.mapSceneToView(ev.scenePos()).x())

    def seek_to_x(self, x: float) -> None:
        """Go to the frame under timeline position ``x`` (a frame number)."""
        self._do(self.state.goto_number, int(round(x)), labels=False)

    def _edit_done(self, action, value: object) -> None:
        if self._do(action, value):
            self.setFocus()

    def _major_done(self) -> None:
        text = self.major_edit.text().strip().upper().removeprefix("AU")
        if text and not text.isdigit():
            self.state.message = f"⚠ major AU {text!r}: give an AU number, e.g. 12"
            self.refresh()
            return
        self._edit_done(self.state.set_major, int(text) if text else None)

    def _override_done(self) -> None:
        choice = self.override.currentText()
        if choice == "Table 4":
            self._edit_done(lambda _r: self.state.clear_override(), "")
        else:
            self._edit_done(lambda r: self.state.override_emotion(choice, r), self.reason_edit.text())

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:  # Qt override
        k, mods = int(ev.key()), ev.modifiers()
        shift = bool(mods & QtCore.Qt.KeyboardModifier.ShiftModifier)
        st = self.state
        text = ev.text()
        moves = {int(Key.Key_Left): -1, int(Key.Key_Right): 1}
        if k in moves:
            self._do(st.step, moves[k] * (10 if shift else 1), labels=False)
        elif k == Key.Key_Home:
            self._do(st.goto, 0, labels=False)
        elif k == Key.Key_End:
            self._do(st.goto, st.count - 1, labels=False)
        elif text.isdigit() and len(text) == 1:
            self._do(st.type_digit, text, labels=False)
        elif k == Key.Key_Backspace:
            st.typed = st.typed[:-1]
            self.refresh()
        elif k in (Key.Key_Return, Key.Key_Enter):
            self._do(st.enter)
        elif k == Key.Key_L:
            self._do(st.play, 1, labels=False)
        elif k == Key.Key_J:
            self._do(st.play, -1, labels=False)
        elif k in (Key.Key_K, Key.Key_Space):
            self._do(st.pause) if (k == Key.Key_K or st.speed) else self._do(st.play, 1)
        elif k == Key.Key_BracketLeft:
            self._do(st.slower, labels=False)
        elif k == Key.Key_BracketRight:
            self._do(st.play, 1 if st.speed >= 0 else -1)
        elif k == Key.Key_I:
            self._do(st.mark, "onset")
        elif k == Key.Key_A:
            self._do(st.mark, "apex")
        elif k == Key.Key_O:
            self._do(st.mark, "offset")
        elif k == Key.Key_N:
            self._do(st.next_candidate, -1 if shift else 1)
        elif k == Key.Key_Y:
            self._do(st.accept_candidate)
        elif k == Key.Key_X:
            self._do(st.reject_candidate)
        elif k == Key.Key_Delete:
            self._do(st.delete_selected)
        elif k == Key.Key_Escape:
            st.typed, st.draft = "", {}
            self._do(st.select, None)
        elif k == Key.Key_U:
            self.au_edit.setFocus()
        elif k == Key.Key_M:
            self.major_edit.setFocus()
        elif k == Key.Key_T:
            self.note_edit.setFocus()
        elif k == Key.Key_E:
            self.reason_edit.setFocus()
        elif k == Key.Key_V and st.source.views:
            self.view_index += 1
            self.refresh()
        else:
            super().keyPressEvent(ev)

    # -- playback ------------------------------------------------------------------------------
    def _sync_timer(self) -> None:
        """Run the timer while playing: one tick per frame period at the speed (at most 100 ticks/s)."""
        st = self.state
        if not st.speed:
            self.timer.stop()
            return
        period_ms = 1000.0 / (st.source.fps * abs(st.speed))
        self.timer.setInterval(max(10, int(round(period_ms))))
        if not self.timer.isActive():
            self.timer.start()

    def frames_per_tick(self) -> int:
        st = self.state
        return max(1, int(round(st.source.fps * abs(st.speed) * self.timer.interval() / 1000.0)))

    def tick(self) -> None:
        st = self.state
        for _ in range(self.frames_per_tick()):
            st.advance()
        if not st.speed:
            self.timer.stop()
        self.refresh()

    # -- lifecycle -----------------------------------------------------------------------------
    def closeEvent(self, ev) -> None:  # Qt override
        self.timer.stop()
        super().closeEvent(ev)

    def save_screenshot(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(path)):
            raise OSError(f"could not write the screenshot {path}")
        return path


DRAFT_COLOURS = {"onset": "#40e080", "apex": "#f0f040", "offset": "#ff6060"}
