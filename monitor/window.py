"""The monitor's main window: a header with recording and protocol state and the operator's
buttons, the video tiles, the spotting trace, AUs and emotion, stream health and the event log.

A QTimer repaints at ``fps`` (25 by default): it takes the feed's snapshot (the newest frame per
stream and the queued events), updates the state and the panels, and nothing else.  Video does
not wait for that timer: the feed wakes the window when a frame arrives and the tiles alone are
painted at once, at most ``video_fps`` times a second (a frame arriving sooner is painted when
the cap allows, together with whatever else came).  Waiting for the next 25 Hz tick cost up to
40 ms per frame; on a loaded machine a tick that is late adds to it.

Latency is measured from a frame's capture stamp (host_time_ns) to the end of the paint that
showed it, and split into stages so that its cause can be read off the window's statistics:
``wire`` (capture stamp to the feed's receive), ``wait`` (received to the GUI thread taking it),
``convert`` (decoding, decimation, conversion, setImage) and ``paint`` (until the tiles' paint
ended).
"""

from __future__ import annotations

import collections
import shutil
import time
from pathlib import Path

import numpy as np

from mestudio.monitor.display import media_of
from mestudio.monitor.feed import LiveFeed
from mestudio.monitor.operator import CommandSender
from mestudio.monitor.panels import BAD, MUTED, OK, WARN, AUPanel, EventLog, HealthTable, ScorePlot, TileView, level_of
from mestudio.monitor.qt import QtCore, QtGui, QtWidgets
from mestudio.monitor.state import MonitorState
from mestudio.monitor.target import Target
from mestudio.stream.backlog import BEHIND_S

BUTTON_STYLE = (
    "QPushButton {padding: 6px 14px; border-radius: 4px; background: #2a2f38; color: #e6e8ee;}"
    "QPushButton:hover {background: #353b46;} QPushButton:disabled {color: #5c626e;}"
)


STAGES = ("wire", "wait", "convert", "paint")


def thread_schedstat() -> tuple[int, int]:
    """(CPU ns, run-queue wait ns) of the calling thread so far; (0, 0) where Linux does not say.

    The wait is time the thread was ready to run but another process had the CPU: on a loaded
    machine it, not the window's own work, is what makes a frame late."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            cpu, wait = f.read().split()[:2]
        return int(cpu), int(wait)
    except (OSError, ValueError):
        return 0, 0


class MonitorWindow(QtWidgets.QMainWindow):
    frame_ready = QtCore.Signal()  # emitted by the feed's thread; runs _frame_arrived in the GUI thread

    def __init__(
        self,
        target: Target,
        feed: LiveFeed,
        commands: CommandSender | None,
        *,
        fps: float = 25.0,
        video_fps: float | None = None,
    ) -> None:
        super().__init__()
        self.target, self.feed, self.commands = target, feed, commands
        self.state = MonitorState(target.t0_host_ns)
        self.setWindowTitle(f"mestudio monitor — {target.kind} {target.label}")
        self.repaints = 0
        self.frames_drawn: collections.Counter[str] = collections.Counter()
        self.latency_ns: dict[str, collections.deque] = {}
        self._pending: list = []  # (header, received ns, taken ns, converted ns) drawn since the last paint
        self.stage_ns: dict[str, dict[str, collections.deque]] = {}  # stream -> stage -> ns
        self.sched_start = thread_schedstat()  # the GUI thread's CPU and run-queue wait so far
        self.frame_paints = 0  # paints started by a frame's arrival, not by the timer
        self._video_period_ns = int(1e9 / (video_fps or 2 * fps))
        self._last_frames_ns = 0
        self._stats: dict = {}
        self._audio: dict[str, float] = {}
        self._free_mb: float | None = None
        self._next_disk = 0.0
        self._throttled_s = 0.0
        self._build()
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.tick)
        self.timer.start(int(1000 / fps))
        self._due = QtCore.QTimer(self)  # a frame that came before the video cap allowed a paint
        self._due.setSingleShot(True)
        self._due.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._due.timeout.connect(self._show_frames)
        self.frame_ready.connect(self._frame_arrived, QtCore.Qt.ConnectionType.QueuedConnection)
        feed.on_frame = self.frame_ready.emit

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        central = QtWidgets.QWidget()
        root = QtWidgets.QVBoxLayout(central)
        root.setContentsMargins(8, 8, 8, 8)
        root.addLayout(self._header())
        self.tiles = TileView()
        self.tiles.painted.connect(self._on_painted)
        self.score = ScorePlot()
        self.aus = AUPanel()
        self.health = HealthTable()
        self.log = EventLog()
        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        right.addWidget(self.score)
        right.addWidget(self.aus)
        right.setSizes([300, 300])
        top = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        top.addWidget(self.tiles)
        top.addWidget(right)
        top.setSizes([1000, 560])
        bottom = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        bottom.addWidget(self.health)
        bottom.addWidget(self.log)
        bottom.setSizes([900, 660])
        main = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(bottom)
        main.setSizes([640, 240])
        root.addWidget(main, 1)
        self.setCentralWidget(central)
        self.setStyleSheet(BUTTON_STYLE)
        self.resize(1600, 1000)

    def _header(self) -> QtWidgets.QVBoxLayout:
        """Two rows: the recording (state, throughput, its actions), then the protocol (state, actions)."""
        self.rec = QtWidgets.QLabel()
        self.rec.setStyleSheet("font-size: 15pt; font-weight: 700;")
        self.rec.setMinimumWidth(200)
        sdir = self.target.session_dir
        self.session = QtWidgets.QLabel(
            f"<b>{self.target.label}</b>" + (f"<br><span style='color:{MUTED}'>{sdir.name}</span>" if sdir else "")
        )
        self.session.setToolTip(str(sdir or ""))
        self.session.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.session.setMaximumWidth(300)  # long names are cut, never allowed to widen the window
        self.throughput = QtWidgets.QLabel()
        self.throughput.setToolTip(
            "MB/s the devices produce (from sequence numbers), free space on the session's "
            "disk and the minutes it lasts at this rate;\nframes unseen: sequence numbers "
            "this window never received (device drops, or frames it skipped while busy)"
        )
        self.backlog = QtWidgets.QLabel()
        self.backlog.setMinimumWidth(260)  # its longest text fits: a warning is never cut
        self.backlog.setToolTip(
            "how far behind its producers the recorder is (worst stream; per stream in the table):\n"
            f"past {BEHIND_S:.0f} s it turns to a warning: the disk or the CPU is too slow for the rig,\n"
            "frames wait in the recorder's queue and a longer session will run out of memory"
        )
        self.protocol = QtWidgets.QLabel()
        self.protocol.setStyleSheet("font-size: 12pt;")
        self.protocol.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        rows = []
        for labels, actions in (
            (
                (self.rec, self.session, self.throughput, self.backlog),
                (("record", "Stop recording", "R"), ("mark", "Mark", "M"), ("stop-session", "End session", None)),
            ),
            ((self.protocol,), (("protocol", "Pause protocol", "P"), ("skip", "Skip", "S"))),
        ):
            row = QtWidgets.QHBoxLayout()
            for w in labels:
                row.addWidget(w, 1 if w is self.protocol else 0)  # the protocol line takes what is left
                row.addSpacing(18)
            if self.protocol not in labels:
                row.addStretch(1)
            for verb, text, key in actions:
                row.addWidget(self._button(verb, text, key))
            rows.append(row)
        self.buttons["stop-session"].setStyleSheet(
            "QPushButton {background: #5a1f24;} QPushButton:hover "
            "{background: #7a2a30;} QPushButton:disabled {background: #2a2f38;}"
        )
        header = QtWidgets.QVBoxLayout()
        header.setSpacing(2)
        for row in rows:
            header.addLayout(row)
        return header

    def _button(self, verb: str, text: str, key: str | None) -> QtWidgets.QPushButton:
        b = QtWidgets.QPushButton(text + (f"  ({key})" if key else ""))
        b.setMinimumWidth(90)
        if key:
            b.setShortcut(QtGui.QKeySequence(key))
        b.clicked.connect(lambda _checked=False, v=verb: self.command(v))
        b.setEnabled(self.commands is not None)
        b.setToolTip("not available: a replay takes no commands" if self.commands is None else "")
        self.buttons[verb] = b
        return b

    # -- operator actions -----------------------------------------------------------------
    def command(self, verb: str, *, confirm: bool = True) -> bool:
        if self.commands is None:
            return False
        # the toggles follow the state the supervisor echoes back, so several viewers agree
        if verb == "record":
            verb = "record-start" if self.state.recording_paused else "record-stop"
        if verb == "protocol":
            verb = self._protocol_verb()
        box = QtWidgets.QMessageBox
        if (
            verb == "stop-session"
            and confirm
            and self.isVisible()
            and box.question(self, "End session", "Stop all devices and end this session?") != box.StandardButton.Yes
        ):
            return False
        ok = self.commands.send(verb, {"session_s": round(self.state.now_s, 3)})
        if not ok:
            self.log.add([f"{self.state.now_s:8.2f} s  could not send {verb}: no supervisor is taking commands"])
        return ok

    def _protocol_verb(self) -> str:
        if self.state.elicit.get("state") == "ready":  # the protocol waits on its instructions
            return "start"
        return "resume" if self.state.protocol_paused else "pause"

    # -- repaint --------------------------------------------------------------------------
    def tick(self) -> None:
        self._show_frames(with_stats=True)
        self.score.update_state(self.state)
        self.aus.update_state(self.state)
        self.log.add(self.state.take_log())
        if self.repaints % 5 == 0:
            self._update_status()
        self.repaints += 1

    def _frame_arrived(self) -> None:
        """A frame is waiting in the feed: paint the tiles now, or when the video cap allows."""
        if self._due.isActive():
            return
        self.frame_paints += 1
        wait_ns = self._last_frames_ns + self._video_period_ns - time.monotonic_ns()
        if wait_ns <= 0:
            self._show_frames()
        else:
            self._due.start(max(1, -(-wait_ns // 1_000_000)))

    def _show_frames(self, with_stats: bool = False) -> None:
        """Take the feed's newest frames and events; draw the frames.  Without ``with_stats``
        (a frame's arrival) the counters of the last tick are used: no copies, no tile titles."""
        taken = self._last_frames_ns = time.monotonic_ns()
        self._due.stop()
        snap = self.feed.snapshot(with_stats)
        for ev in snap.events:
            self.state.apply(ev)
        if with_stats:
            self._stats = snap.stats
        stats = self._stats
        for sid, msg in snap.frames.items():
            self.state.observe(msg.header.host_time_ns)
            st = stats.get(sid)
            if st is not None and media_of(st.pixel_format, st.shape) == "audio":
                self._audio[sid] = level_of(msg)
        drawn = self.tiles.update_frames(snap.frames, stats, self.state, titles=with_stats)
        converted = time.monotonic_ns()
        for h in drawn:
            self.frames_drawn[h.stream_id] += 1
            self._pending.append((h, snap.arrivals.get(h.stream_id, taken), taken, converted))

    def _on_painted(self) -> None:
        if not self._pending or not self.target.live:
            self._pending.clear()
            return
        now = time.monotonic_ns()
        for h, received, taken, converted in self._pending:
            self.latency_ns.setdefault(h.stream_id, collections.deque(maxlen=4096)).append(now - h.host_time_ns)
            stages = self.stage_ns.get(h.stream_id)
            if stages is None:
                stages = self.stage_ns[h.stream_id] = {k: collections.deque(maxlen=4096) for k in STAGES}
            for k, v in zip(STAGES, (received - h.host_time_ns, taken - received, converted - taken, now - converted)):
                stages[k].append(v)
        self._pending.clear()

    @property
    def stream_stats(self) -> dict:
        """Each stream's counters as of the last repaint."""
        return self._stats

    def latency_ms(self, last: int = 50) -> dict[str, float]:
        return {sid: float(np.median(list(d)[-last:])) / 1e6 for sid, d in self.latency_ns.items() if d}

    def _update_status(self) -> None:
        stats = self._stats
        now = time.monotonic_ns()
        self.health.update_health(stats, self.state, self.latency_ms(), self._audio)
        mbs = sum(st.rates(now)[1] for st in stats.values())
        flowing = any((now - st.last_arrival_ns) < 1e9 for st in stats.values())
        ended = self.state.session_stopped or (stats and all(st.ended for st in stats.values()))
        if self.target.live and self.target.t0_host_ns:
            elapsed = (now - self.target.t0_host_ns) / 1e9 if not ended else self.state.now_s
        else:
            elapsed = self.state.now_s
        clock = time.strftime("%H:%M:%S", time.gmtime(max(0.0, elapsed)))
        if self.commands is not None:
            self.buttons["record"].setText(
                "Resume recording  (R)" if self.state.recording_paused else "Stop recording  (R)"
            )
            self.buttons["protocol"].setText(f"{self._protocol_verb().capitalize()} protocol  (P)")
        if ended:
            self.rec.setText(f"<span style='color:{MUTED}'>■ ENDED</span> {clock}")
        elif self.state.recording_paused and self.target.live:
            self.rec.setText(f"<span style='color:{WARN}'>❚❚ NOT RECORDING</span> {clock}")
        elif not flowing:
            self.rec.setText(f"<span style='color:{WARN}'>◌ WAITING</span> {clock}")
        elif self.target.live:
            self.rec.setText(f"<span style='color:{BAD}'>● REC</span> {clock}")
        else:
            self.rec.setText(f"<span style='color:{OK}'>▶ REPLAY</span> {clock}")
        if time.monotonic() >= self._next_disk and self.target.session_dir is not None:
            self._next_disk = time.monotonic() + 2.0
            try:
                self._free_mb = shutil.disk_usage(self.target.session_dir).free / 1e6
            except OSError:
                self._free_mb = None
        free = "—" if self._free_mb is None else f"{self._free_mb / 1e3:.1f} GB free"
        if self._free_mb is not None and mbs > 0.1:
            free += f" (~{self._free_mb / mbs / 60:.0f} min)"
        gaps = sum(st.gaps for st in stats.values())
        capped = self.feed.throttled_s > self._throttled_s  # the intake cap made it skip frames lately
        self._throttled_s = self.feed.throttled_s
        self.throughput.setText(
            f"<b>{mbs:.1f} MB/s</b>&nbsp; · &nbsp;{free}<br>"
            f"<span style='color:{WARN if gaps else MUTED}'>{gaps} frames unseen</span>"
            f"<span style='color:{MUTED}'> · {len(stats)} streams"
            f"{' · skipping frames to spare the CPU' if capped else ''}</span>"
        )
        self.backlog.setText(self.backlog_text())
        self.protocol.setText(f"<span style='color:{MUTED}'>protocol</span>&nbsp; {self.state.elicit_text()}")

    def backlog_text(self) -> str:
        """The recorder's backlog: muted while it keeps up, a warning past BEHIND_S."""
        r = self.state.recorder
        if r is None:
            return f"<span style='color:{MUTED}'>recorder: no backlog report</span>"
        if r.shedding:
            return (
                f"<b style='color:{BAD}'>⚠ RECORDER SHEDDING FRAMES</b>"
                f"<br><span style='color:{BAD}'>{r.backlog_s:.1f} s behind · ~{r.queued_mb:.0f} MB in memory · "
                "frames counted, not written</span>"
            )
        if r.cannot_keep_up:
            return (
                f"<b style='color:{BAD}'>⚠ RECORDER CANNOT KEEP UP</b>"
                f"<br><span style='color:{BAD}'>{r.backlog_s:.1f} s behind · ~{r.queued_mb:.0f} MB in memory</span>"
            )
        if r.backlog_s > BEHIND_S:
            worst = max(r.streams, key=lambda k: r.streams[k], default="")
            return f"<b style='color:{WARN}'>⚠ RECORDER {r.backlog_s:.1f} s BEHIND</b>" + (
                f"<br><span style='color:{WARN}'>worst: {worst}</span>" if worst else ""
            )
        return (
            f"<span style='color:{MUTED}'>recorder {r.backlog_s:.1f} s behind"
            f"<br>at worst {r.backlog_max_s:.1f} s</span>"
        )

    # -- lifecycle ------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop repainting; the caller closes the feed and the command socket."""
        self.feed.on_frame = None  # the feed's thread must not signal a window being deleted
        self.timer.stop()
        self._due.stop()

    def closeEvent(self, ev) -> None:  # Qt override
        self.stop()
        super().closeEvent(ev)

    def save_screenshot(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(path)):
            raise OSError(f"could not write the screenshot {path}")
        return path
