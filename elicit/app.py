"""Runs a protocol in the participant window: Qt set-up, the tick loop, commands, teardown.

Teardown is deterministic (timer stopped, controller closed, window closed and deleted, events
processed, then the event loop left) so the process exits with its own code, see
docs/elicit.md 'Exit codes'.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mestudio.elicit.checks import Preflight
from mestudio.elicit.controller import Controller
from mestudio.elicit.errors import DisplayError
from mestudio.elicit.markers import MarkerSink
from mestudio.elicit.protocol import Protocol


@dataclass
class RunResult:
    completed: bool
    state: str
    clip_log: list[dict] = field(default_factory=list)
    paint_log: list[int] = field(default_factory=list)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_protocol(
    proto: Protocol,
    participant: str,
    sink: MarkerSink,
    pre: Preflight,
    *,
    headless: bool | None = None,
    autostart: bool = False,
    hold_end_s: float | None = 3.0,
    screenshot_dir: Path | None = None,
    simulate_participant: bool = False,
    poll_commands: Callable[[], list[tuple[str, str]]] | None = None,
    stop: threading.Event | None = None,
    on_controller: Callable[[Controller], None] | None = None,
    on_end: Callable[[Controller], None] | None = None,
) -> RunResult:
    """Show the window, run the protocol to its end (or abort / stop), close everything."""
    if headless or (headless is None and not has_display()):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        headless = True
    from mestudio.gui.app import application, shutdown

    app = application("mestudio-elicit")  # the binding check and start-up every window goes through
    from PySide6.QtCore import Qt, QTimer

    from mestudio.elicit.window import ParticipantWindow

    screens = app.screens()
    d = proto.display
    if not headless and d.screen >= len(screens):
        raise DisplayError(
            f"{proto.source_path}: [display] screen = {d.screen}, but this machine has "
            f"{len(screens)} display(s) (0..{len(screens) - 1}); set [display] screen"
        )
    if screenshot_dir is not None:
        Path(screenshot_dir).mkdir(parents=True, exist_ok=True)
    holder: dict = {}

    def on_command(verb: str) -> None:
        c = holder["c"]
        if verb == "pause-toggle":
            verb = "resume" if c.paused else "pause"
        c.command(verb, "key")

    window = ParticipantWindow(d, lambda: holder["c"].survey_submitted(), on_command, screenshot_dir)
    ctrl = Controller(
        proto, participant, window, sink, pre.paths, pre.sound, autostart=autostart, hold_end_s=hold_end_s
    )
    holder["c"] = ctrl
    if on_controller:
        on_controller(ctrl)
    if simulate_participant:
        from mestudio.elicit.simulated_participant import SimulatedParticipant

        def emotions() -> list[str]:
            st = ctrl.steps[ctrl.index] if 0 <= ctrl.index < len(ctrl.steps) else None
            return st.clip.emotions if st is not None and st.clip is not None else []

        sim = SimulatedParticipant(window, emotions)
        window.survey_listeners.append(sim.survey_shown)
    if headless or not d.fullscreen:
        window.resize(*d.size)
        window.show()
    else:
        screen = screens[d.screen]
        window.setScreen(screen)
        window.setGeometry(screen.geometry())
        window.setCursor(Qt.CursorShape.BlankCursor)
        window.showFullScreen()

    timer = QTimer()
    timer.setSingleShot(True)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    stopping = {"asked": False, "ended": False}

    failures: list[BaseException] = []

    def step() -> None:
        try:
            _step()
        except Exception as e:  # an exception in a Qt slot would only be printed
            failures.append(e)
            try:
                ctrl.mark("error", error=f"{type(e).__name__}: {e}", state=ctrl.state)
            finally:
                app.quit()

    def _step() -> None:
        if poll_commands is not None:
            for verb, source in poll_commands():
                ctrl.command(verb, source)
        if stop is not None and stop.is_set() and not stopping["asked"]:
            stopping["asked"] = True
            if ctrl.state not in ("done", "aborted"):
                ctrl.command("abort", "session-stop")
            ctrl.hold_end_s = 0.0
        delay = ctrl.tick()
        if ctrl.state in ("done", "aborted") and not stopping["ended"]:
            stopping["ended"] = True
            if on_end:
                on_end(ctrl)
        if ctrl.finished:
            app.quit()
            return
        timer.start(max(0, int(delay * 1000)))

    timer.timeout.connect(step)

    def begin() -> None:
        ctrl.begin()
        timer.start(0)

    QTimer.singleShot(0, begin)
    try:
        app.exec()
    finally:
        timer.stop()
        timer.timeout.disconnect(step)
        ctrl.close()
        result = RunResult(ctrl.completed, ctrl.state, list(ctrl.clip_log), list(window.video.paint_log))
        window.survey_listeners.clear()
        shutdown(app, window)
    if failures:
        raise failures[0]
    return result
