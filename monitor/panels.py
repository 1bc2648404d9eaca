"""The window's panels: video tiles, spotting trace, AUs and emotion, stream health, event log.

Each panel has ``update(...)`` taking plain data (a feed Snapshot, the MonitorState) and never
touches a socket; the window calls them from its repaint timer.
"""

from __future__ import annotations

import math
import time

import numpy as np

from mestudio.monitor.display import audio_level_dbfs, decimation, depth_range, media_of, to_display
from mestudio.monitor.feed import StreamStats
from mestudio.monitor.qt import QtCore, QtGui, QtWidgets, pg
from mestudio.monitor.state import AU_TRACE_S, TRACE_AUS, MonitorState
from mestudio.stream.backlog import BEHIND_S

ACCENT = "#3d7eff"
WARN = "#ffb020"
BAD = "#ff5a5f"
OK = "#3ecf8e"
MUTED = "#7f8694"
TITLE_RATE_S = 1.0  # a tile title whose only change is its rate is re-set at most this often
OVERLAY_MAX_AGE_S = 1.0  # landmarks older than this are hidden rather than drawn in the wrong place


class _Tile:
    """One stream's image with its title and face overlay."""

    def __init__(self, layout: pg.GraphicsLayout, sid: str) -> None:
        self.sid = sid
        self.title = layout.addLabel(sid, color="#d6d9e0", size="10pt")
        self.title_text = sid
        self.title_what = sid  # the title without its rate
        self.title_at = 0.0  # monotonic s of its last change
        layout.nextRow()
        self.view = layout.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        self.view.setBackgroundColor("#0c0d10")
        self.image = pg.ImageItem()
        self.view.addItem(self.image)
        self.landmarks = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(80, 255, 170, 200))
        self.rois = pg.PlotCurveItem(pen=pg.mkPen(WARN, width=1.5), connect="finite")
        self.view.addItem(self.rois)
        self.view.addItem(self.landmarks)
        self._overlay_empty = True
        self.shape: tuple[int, ...] = ()
        self.depth_limits: tuple[float, float] | None = None
        self.shown = 0

    def show_frame(self, frame: np.ndarray, pixel_format: str) -> None:
        step = decimation(frame.shape)
        if media_of(pixel_format, frame.shape) == "depth" and (self.depth_limits is None or self.shown % 30 == 0):
            self.depth_limits = depth_range(frame[::step, ::step])  # re-fit the colour map now and then
        img = to_display(frame, pixel_format, step, self.depth_limits)
        self.image.setImage(img, autoLevels=False, levels=None if img.ndim == 3 else (0, 255))
        h, w = frame.shape[:2]
        if self.shape != frame.shape:
            self.shape = frame.shape
            self.image.setRect(QtCore.QRectF(0, 0, w, h))  # overlays draw in full-frame pixels
            self.view.setRange(QtCore.QRectF(0, 0, w, h), padding=0.0)
        self.shown += 1

    def show_overlay(self, landmarks: np.ndarray | None, rois: dict | None) -> None:
        empty = (landmarks is None or len(landmarks) == 0) and not rois
        if empty and self._overlay_empty:
            return  # clearing an empty overlay still marks the tile dirty: a repaint of every tile per tick
        self._overlay_empty = empty
        if landmarks is None or len(landmarks) == 0:
            self.landmarks.setData([], [])
        else:
            self.landmarks.setData(landmarks[:, 0], landmarks[:, 1])
        xs, ys = [], []
        for x, y, w, h in (rois or {}).values():
            xs += [x, x + w, x + w, x, x, np.nan]
            ys += [y, y, y + h, y + h, y, np.nan]
        self.rois.setData(np.asarray(xs, float), np.asarray(ys, float))


class TileView(pg.GraphicsLayoutWidget):
    """A tile per video or depth stream, laid out in a grid; emits ``painted`` after each paint."""

    painted = QtCore.Signal()

    def __init__(self) -> None:
        super().__init__()
        self.tiles: dict[str, _Tile] = {}
        self.ci.setSpacing(4)
        self._placeholder = self.ci.addLabel("waiting for frames…", color=MUTED, size="14pt")

    def paintEvent(self, ev) -> None:  # Qt override
        super().paintEvent(ev)
        self.painted.emit()

    def _layout(self, ids: list[str]) -> None:
        self.ci.clear()
        self.tiles.clear()
        cols = max(1, math.ceil(math.sqrt(len(ids))))
        for i, sid in enumerate(ids):
            cell = self.ci.addLayout(row=i // cols, col=i % cols)
            self.tiles[sid] = _Tile(cell, sid)

    def update_frames(
        self, frames: dict, stats: dict[str, StreamStats], state: MonitorState, titles: bool = True
    ) -> list:
        """Draw the newest frame of each stream; returns the headers of what was drawn.
        ``titles=False`` (a frame painted as it arrives): the titles wait for the next tick."""
        visual = sorted(sid for sid, st in stats.items() if media_of(st.pixel_format, st.shape) in ("video", "depth"))
        if visual and sorted(self.tiles) != visual:
            self._layout(visual)
        drawn = []
        for sid, msg in frames.items():
            tile = self.tiles.get(sid)
            if tile is None:
                continue
            tile.show_frame(msg.data, msg.header.pixel_format)
            drawn.append(msg.header)
        for sid, tile in self.tiles.items():
            st = stats.get(sid) if titles else None
            if st is not None:
                fps, _ = st.rates(time.monotonic_ns())
                h, w = st.shape[:2] if len(st.shape) >= 2 else (0, 0)
                face_note = ""
                if sid == state.analyzer_stream and state.face_state:
                    colour = OK if state.face_state == "tracked" else BAD
                    face_note = f" · <span style='color:{colour}'>face {state.face_state}</span>"
                depth = (
                    f" · {tile.depth_limits[0]:.0f}–{tile.depth_limits[1]:.0f} mm"
                    if tile.depth_limits and media_of(st.pixel_format, st.shape) == "depth"
                    else ""
                )
                text = (
                    f"<b>{sid}</b>&nbsp;&nbsp;<span style='color:{MUTED}'>{w}×{h} · "
                    f"{fps:.0f} fps{depth}{' · ended' if st.ended else ''}</span>{face_note}"
                )
                # a new title re-lays out the tile grid (0.7 ms of setHtml, then the layout): only
                # when it changed, and a rate that flickers by a frame at most once a second
                what = text.replace(f"{fps:.0f} fps", "")
                now_s = time.monotonic()
                if text != tile.title_text and (what != tile.title_what or now_s - tile.title_at >= TITLE_RATE_S):
                    tile.title_text, tile.title_what, tile.title_at = text, what, now_s
                    tile.title.setText(text)
            if not titles and sid not in frames:
                continue  # painted as a frame arrived: only the tiles that got one
            face = state.faces.get(sid)
            fresh = face if face is not None and state.now_s - face.t_s <= OVERLAY_MAX_AGE_S else None
            tile.show_overlay(fresh.landmarks if fresh else None, fresh.rois if fresh else None)
        return drawn


class ScorePlot(pg.PlotWidget):
    """Spotting score over the last minute, its threshold, spotted intervals and operator marks."""

    SPAN_S = 30.0

    def __init__(self) -> None:
        super().__init__()
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setTitle("spotting score", color="#d6d9e0", size="10pt")
        self.setLabel("bottom", "session time", units="s")
        self.showGrid(x=True, y=True, alpha=0.15)
        self.curve = self.plot(pen=pg.mkPen(ACCENT, width=2))
        self.threshold = pg.InfiniteLine(
            angle=0,
            pen=pg.mkPen(WARN, width=1.5, style=QtCore.Qt.PenStyle.DashLine),
            label="threshold",
            labelOpts={"color": WARN, "position": 0.1},
        )
        self.threshold.setVisible(False)
        self.addItem(self.threshold)
        self._regions: list[pg.LinearRegionItem] = []
        self._marks: list[pg.InfiniteLine] = []
        self.empty = pg.TextItem("no analyzer results yet", color=MUTED, anchor=(0.5, 0.5))
        self.addItem(self.empty)
        self._idle_drawn = False  # the empty plot is drawn once, then left alone until data comes

    def update_state(self, state: MonitorState) -> None:
        t, s = state.score_window()
        # nothing to show (no scores, threshold, marks or intervals yet): the empty plot is not redrawn at
        # every tick (an idle window repainting it 25 times a second was most of its base CPU)
        idle = not (len(t) or state.marks or state.intervals or state.threshold is not None)
        if idle and self._idle_drawn:
            return
        self._idle_drawn = idle
        now = max(state.now_s, float(t[-1]) if len(t) else 0.0)
        lo = max(0.0, now - self.SPAN_S)  # the first half minute fills from the left
        hi = lo + self.SPAN_S
        self.curve.setData(t, s)
        self.empty.setVisible(len(t) == 0)
        if len(t) == 0:
            self.empty.setPos(lo + self.SPAN_S / 2, 0.5)
        if state.threshold is not None:
            self.threshold.setValue(state.threshold)
            self.threshold.setVisible(True)
        shown = [iv for iv in state.intervals if iv.end_s >= lo]
        while len(self._regions) < len(shown):
            r = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 90, 95, 60), pen=pg.mkPen(255, 90, 95, 160))
            self.addItem(r)
            self._regions.append(r)
        for r, iv in zip(self._regions, shown):
            r.setRegion((iv.start_s, iv.end_s))
            r.setVisible(True)
        for r in self._regions[len(shown) :]:
            r.setVisible(False)
        marks = [m for m in state.marks if m[0] >= lo]
        while len(self._marks) < len(marks):
            line = pg.InfiniteLine(
                angle=90,
                pen=pg.mkPen("#c792ea", width=2),
                label="mark",
                labelOpts={"color": "#c792ea", "position": 0.92},
            )
            self.addItem(line)
            self._marks.append(line)
        for line, (mt, text) in zip(self._marks, marks):
            line.setValue(mt)
            line.label.setFormat(text)
            line.setVisible(True)
        for line in self._marks[len(marks) :]:
            line.setVisible(False)
        # robust top: a few huge peaks (blinks) must not flatten the trace around the threshold
        top = max(1.0, float(np.percentile(s, 99)) * 1.2 if len(s) else 1.0, (state.threshold or 0) * 2.0)
        self.setRange(xRange=(lo, hi), yRange=(0, top), padding=0.0)


AU_COLOURS = ("#3d7eff", "#3ecf8e", "#ffb020", "#ff5a5f", "#c792ea", "#f78c6c", "#89ddff", "#d6d9e0")


class AUTracePlot(pg.PlotWidget):
    """The study's eight AUs frame by frame (intensity 0-5) over the last 10 s."""

    def __init__(self) -> None:
        super().__init__()
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setTitle("AU intensity, last 10 s", color="#d6d9e0", size="10pt")
        self.addLegend(offset=(4, 4), colCount=4, labelTextSize="7pt")
        self.curves = {
            a: self.plot(name=a, pen=pg.mkPen(c, width=1.5)) for a, c in zip(TRACE_AUS, AU_COLOURS, strict=True)
        }
        self.setYRange(0, 5, padding=0.02)
        self.empty = pg.TextItem("no per-frame AUs yet", color=MUTED, anchor=(0.5, 0.5))
        self.empty.setPos(AU_TRACE_S / 2, 2.5)
        self.addItem(self.empty)
        self._last: float | None = -1.0  # newest AU sample drawn (None: none yet; -1: not drawn at all)

    def update_state(self, state: MonitorState) -> None:
        win = state.au_trace_window()
        last = max((float(t[-1]) for t, _ in win.values() if len(t)), default=None)
        if last == self._last:
            return  # no new per-frame AUs: the same curves, not redrawn
        self._last = last
        for a, (t, v) in win.items():
            self.curves[a].setData(t, v)
        self.empty.setVisible(last is None)
        if last is not None:
            self.setXRange(last - AU_TRACE_S, last, padding=0.0)


class AUPanel(QtWidgets.QWidget):
    """The latest event's action units as bars, its emotion in large type, and the study's eight
    AUs frame by frame over the last 10 s."""

    def __init__(self) -> None:
        super().__init__()
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.emotion = QtWidgets.QLabel("—")
        self.emotion.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.emotion.setStyleSheet("font-size: 22pt; font-weight: 600; color: #d6d9e0;")
        self.detail = QtWidgets.QLabel("emotion of the latest event")
        self.detail.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.detail.setStyleSheet(f"color: {MUTED};")
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setTitle("action units", color="#d6d9e0", size="10pt")
        self.plot.setYRange(0, 1, padding=0.02)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=pg.mkBrush(ACCENT))
        self.plot.addItem(self.bars)
        self.empty = pg.TextItem("no spotted event yet", color=MUTED, anchor=(0.5, 0.5))
        self.empty.setPos(0.5, 0.5)
        self.plot.addItem(self.empty)
        self.plot.setXRange(0, 1, padding=0.0)
        self.plot.getAxis("bottom").setTicks([[]])
        self.trace = AUTracePlot()
        for w in (self.emotion, self.detail, self.plot, self.trace):
            lay.addWidget(w)
        lay.setStretch(2, 1)
        lay.setStretch(3, 1)
        self._aus: dict[str, float] = {}

    def update_state(self, state: MonitorState) -> None:
        self.trace.update_state(state)
        if state.aus != self._aus:
            self._aus = dict(state.aus)
            names = list(self._aus)
            x = np.arange(len(names), dtype=float)
            h = np.asarray([self._aus[n] for n in names], dtype=float)
            brushes = [pg.mkBrush(BAD if n in state.au_active else ACCENT) for n in names]
            self.bars.setOpts(x=x, height=h, width=0.7, brushes=brushes)
            self.plot.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate(names)]])
            self.plot.setXRange(-0.6, max(len(names), 6) - 0.4, padding=0.0)  # one AU is not a wall
            self.plot.setYRange(0, max(1.0, float(h.max()) * 1.15 if len(h) else 1.0), padding=0.0)
            self.empty.setText("no AUs in the latest event" if state.intervals else "no spotted event yet")
            self.empty.setPos((max(len(names), 6) - 1) / 2, 0.5)
            self.empty.setVisible(not names)
        self.emotion.setText({None: "—", "None": "no emotion"}.get(state.emotion, state.emotion or "—"))
        last = state.intervals[-1] if state.intervals else None
        active = "+".join(sorted(state.au_active, key=lambda a: (len(a), a)))
        self.detail.setText(
            " · ".join(
                x
                for x in (last and f"{last.label.split()[0]} at {last.start_s:.1f} s", active, state.emotion_detail)
                if x
            )
            or "emotion of the latest event"
        )


HEALTH_COLUMNS = [
    "stream",
    "media",
    "fps",
    "unseen",
    "MB/s",
    "latency ms",
    "clock offset",
    "drift ppm",
    "jitter ms",
    "level / state",
    "recorder behind s",
]


class HealthTable(QtWidgets.QTableWidget):
    """Per-stream health: rate, gaps, throughput, display latency, sync, audio level."""

    STALL_S = 1.0

    def _header_item(self, column: int) -> QtWidgets.QTableWidgetItem:
        item = self.horizontalHeaderItem(column)
        assert item is not None  # setHorizontalHeaderLabels made one per column
        return item

    def __init__(self) -> None:
        super().__init__(0, len(HEALTH_COLUMNS))
        self.setHorizontalHeaderLabels(HEALTH_COLUMNS)
        self._header_item(3).setToolTip(
            "sequence numbers this window never received: frames the device dropped, or frames this lossy\n"
            "window skipped while the machine was busy (the recording is not affected; `mestudio verify`\n"
            "counts the recording's own gaps)"
        )
        self._header_item(10).setToolTip(
            "how long this stream's newest frame waited in the recorder's queue before it was written;\n"
            f"past {BEHIND_S:.0f} s the disk or the CPU is too slow for the rig (frames are queued, not lost yet)"
        )
        self._header_item(5).setToolTip("capture stamp to the end of the paint that showed the frame")
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self._rows: dict[str, int] = {}
        self._shown: dict[tuple[int, int], tuple[str, str]] = {}  # (row, col) -> (text, colour) on screen

    def _cell(self, row: int, col: int, text: str, colour: str | None = None) -> None:
        item = self.item(row, col)
        colour = colour or "#d6d9e0"
        if item is not None and self._shown.get((row, col)) == (text, colour):
            return  # an unchanged cell: setting it again re-lays out the table (27 ms a refresh for 8 streams)
        if item is None:
            item = QtWidgets.QTableWidgetItem()
            item.setTextAlignment(
                QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
                if col
                else QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter
            )
            self.setItem(row, col, item)
        self._shown[(row, col)] = (text, colour)
        item.setText(text)
        item.setForeground(QtGui.QBrush(QtGui.QColor(colour)))

    def update_health(
        self,
        stats: dict[str, StreamStats],
        state: MonitorState,
        latency_ms: dict[str, float],
        audio_levels: dict[str, float],
    ) -> None:
        now = time.monotonic_ns()
        for sid in sorted(stats):
            if sid not in self._rows:
                self._rows[sid] = self.rowCount()
                self.insertRow(self.rowCount())
            r, st = self._rows[sid], stats[sid]
            fps, mbs = st.rates(now)
            media = media_of(st.pixel_format, st.shape)
            stalled = (now - st.last_arrival_ns) / 1e9 > self.STALL_S
            sync = state.sync.get(sid)
            lat = latency_ms.get(sid)
            self._cell(r, 0, sid)
            self._cell(r, 1, media, MUTED)
            self._cell(r, 2, f"{fps:.1f}")
            self._cell(r, 3, str(st.gaps), WARN if st.gaps else None)
            self._cell(r, 4, f"{mbs:.2f}" if mbs < 1 else f"{mbs:.1f}")
            self._cell(r, 5, "—" if lat is None else f"{lat:.1f}", WARN if lat and lat > 100 else None)
            off = sync.offset_ms if sync else None
            self._cell(r, 6, "—" if off is None else f"{off:+.2f}" if abs(off) < 1000 else f"{off / 1000:+.3f} s")
            self._cell(r, 7, _fmt(sync.drift_ppm if sync else None, "{:+.1f}"))
            jitter = sync.jitter_ms if sync else None
            self._cell(r, 8, _fmt(jitter, "{:.2f}"), WARN if jitter and jitter > 2 else None)
            if st.ended:
                self._cell(r, 9, "ended", MUTED)
            elif stalled:
                self._cell(r, 9, f"no frames for {(now - st.last_arrival_ns) / 1e9:.0f} s", BAD)
            elif media == "audio" and sid in audio_levels:
                self._cell(r, 9, _meter(audio_levels[sid]), OK)
            else:
                self._cell(r, 9, "ok", OK)
            behind = state.recorder.streams.get(sid) if state.recorder is not None else None
            self._cell(r, 10, _fmt(behind, "{:.1f}"), WARN if behind is not None and behind > BEHIND_S else None)


def _fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else spec.format(v)


def _meter(dbfs: float) -> str:
    n = int(round(max(0.0, min(1.0, (dbfs + 60.0) / 60.0)) * 20))
    return f"{'▮' * n}{'·' * (20 - n)} {dbfs:5.1f} dBFS"


class EventLog(QtWidgets.QPlainTextEdit):
    """Markers, spotted events, operator commands and stream ends, newest at the bottom."""

    def __init__(self) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.setMaximumBlockCount(1000)
        self.setPlaceholderText("events appear here: markers, spotted expressions, operator actions")
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.setFont(font)

    def add(self, lines: list[str]) -> None:
        for line in lines:
            self.appendPlainText(line)


def level_of(msg) -> float:
    return audio_level_dbfs(np.asarray(msg.data))
