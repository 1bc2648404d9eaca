"""The protocol's state machine, free of Qt: steps, commands, markers.

The participant window (elicit/window.py) is its view; the app calls ``tick()`` from the Qt
thread and shows what it is told.  Every marker is stamped with the host monotonic time at which
the screen that goes with it was handed to the display (``view`` methods return that time).
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol as TypingProtocol

from mestudio.elicit.markers import CHIRP, MARKERS, STATE, MarkerSink
from mestudio.elicit.player import ClipPlayer
from mestudio.elicit.protocol import Clip, Protocol, Question
from mestudio.stream.messages import ElicitState

VERBS = ("start", "pause", "resume", "skip", "abort")


class View(TypingProtocol):
    def show_text(self, text: str, hint: str = "") -> int: ...
    def show_frame(self, rgb, photodiode: bool) -> int: ...
    def show_survey(self, title: str, questions: list[Question]) -> int: ...
    def set_countdown(self, seconds: int | None) -> None: ...
    def survey_answers(self) -> dict: ...
    def video_size(self) -> tuple[int, int]: ...


@dataclass
class Step:
    kind: str  # "clip", "break", "text"
    clip: Clip | None = None
    trial: bool = False
    text: str = ""
    seconds: float = 0.0

    @property
    def the_clip(self) -> Clip:
        """The clip of a clip or break step (a text step has none)."""
        if self.clip is None:
            raise LookupError(f"a {self.kind} step has no clip")
        return self.clip


def plan_steps(proto: Protocol, participant: str) -> list[Step]:
    p = proto.protocol
    steps: list[Step] = []
    if proto.trial:
        steps.append(Step("clip", proto.trial, trial=True))
        if p.survey_after_trial:
            steps.append(Step("break", proto.trial, trial=True))
        steps.append(Step("text", text=p.start_text, seconds=p.start_text_s))
    for c in proto.ordered_clips(participant):
        steps += [Step("clip", c), Step("break", c)]
    return steps


class Controller:
    def __init__(
        self,
        proto: Protocol,
        participant: str,
        view: View,
        sink: MarkerSink,
        paths: dict[str, Path],
        sound=None,
        *,
        autostart: bool = False,
        hold_end_s: float | None = 3.0,
    ) -> None:
        self.proto, self.participant, self.view, self.sink = proto, participant, view, sink
        self.paths, self.sound = paths, sound
        self.steps = plan_steps(proto, participant)
        self.autostart = autostart
        self.hold_end_s = hold_end_s  # None: keep the end screen until stopped from outside
        self.commands: queue.Queue[tuple[str, str]] = queue.Queue()
        self.state = "ready"
        self.index = -1
        self.paused = False
        self.finished = False
        self.completed = False
        self.player: ClipPlayer | None = None
        self._onset_ns = 0
        self._step_t0 = 0.0
        self._paused_for = 0.0
        self._pause_t = 0.0
        self._submitted = False
        self._last_state = 0.0
        self._last_count: int | None = None
        self._end_t = 0.0
        self.clip_log: list[dict] = []  # onset/offset figures per clip (benchmarks, tests)

    # -- input --------------------------------------------------------------------------------
    def command(self, verb: str, source: str = "operator") -> None:
        """Queue an operator command from any thread (cli, key, or `command/<verb>` on the wire)."""
        self.commands.put((verb, source))

    def survey_submitted(self) -> None:
        """The participant pressed Submit (called by the window)."""
        self.commands.put(("submit", "participant"))

    # -- markers ------------------------------------------------------------------------------
    def mark(self, event: str, t_ns: int | None = None, **body) -> None:
        self.sink.emit(MARKERS, {"event": event, **body}, t_ns)

    def publish_state(self) -> None:
        step = self.steps[self.index] if 0 <= self.index < len(self.steps) else None
        body = {
            "state": self.state,
            "paused": self.paused,
            "step": self.index,
            "steps": len(self.steps),
            "participant": self.participant,
            "protocol": self.proto.protocol.name,
        }
        if step is not None and step.clip is not None:
            body.update(clip=step.the_clip.id, title=step.the_clip.title, trial=step.trial)
        if self.player is not None:
            body.update(
                position_s=round(self.player.position_s, 3), dropped=self.player.dropped, clock=self.player.clock_source
            )
        if self.state == "break":
            body["break_left_s"] = round(self._break_left(), 1)
        self.sink.emit(STATE, ElicitState(**body).to_wire())
        self._last_state = time.monotonic()

    # -- the loop -----------------------------------------------------------------------------
    def begin(self) -> None:
        """Show the instructions and wait for start (or start at once with autostart)."""
        hint = "" if self.autostart else "The experimenter will start the session."
        t = self.view.show_text(self.proto.protocol.instructions, hint)
        self._step_t0 = time.monotonic()
        self.mark("instructions", t, text=self.proto.protocol.instructions)
        self.publish_state()

    def tick(self) -> float:
        """Advance; returns seconds until the next tick is needed."""
        while True:
            try:
                verb, source = self.commands.get_nowait()
            except queue.Empty:
                break
            self._handle(verb, source)
        if self.finished:
            return 0.05
        now = time.monotonic()
        delay = 0.05
        if self.state == "ready":
            if self.autostart and now - self._step_t0 >= self.proto.protocol.instructions_s:
                self._start("autostart")
        elif self.state == "clip":
            delay = self._tick_clip()
        elif self.state in ("break", "text") and not self.paused:
            left = self._break_left()
            if left <= 0:
                self._end_step()
            else:
                n = int(left + 0.999)
                if n != self._last_count:
                    self._last_count = n
                    self.view.set_countdown(n)
                delay = min(0.05, left)
        elif self.state in ("done", "aborted"):
            if self.hold_end_s is not None and now - self._end_t >= self.hold_end_s:
                self.finished = True
        if now - self._last_state >= 1.0:
            self.publish_state()
        return delay

    def _handle(self, verb: str, source: str) -> None:
        if verb == "submit":
            if self.state == "break" and not self._submitted:
                self._record_survey(True)
                if self.proto.protocol.break_s <= 0:
                    self._end_step()
                else:
                    self.view.show_text("Thank you. Please relax until the next clip.")
                    self._last_count = None
            return
        if verb not in VERBS or self.state in ("done", "aborted"):
            return
        state = self.state
        if verb == "start" or (verb == "skip" and state == "ready"):
            if state == "ready":
                self._start(source)  # session_start carries the source: no operator marker
            return
        if (verb == "pause" and (self.paused or state == "ready")) or (verb == "resume" and not self.paused):
            return  # nothing to do: not recorded as an action
        self.mark("operator", action=verb, source=source, state=state)
        if verb == "pause":
            self.paused, self._pause_t = True, time.monotonic()
            if self.player:
                self.player.pause()
        elif verb == "resume":
            self.paused = False
            self._paused_for += time.monotonic() - self._pause_t
            if self.player:
                self.player.resume()
        elif verb == "skip":
            self._end_step(reason="skipped")
        else:
            self._abort()
            return
        self.publish_state()

    def _start(self, source: str) -> None:
        self.mark(
            "session_start",
            source=source,
            participant=self.participant,
            protocol=self.proto.protocol.name,
            order=[c.id for c in self.proto.ordered_clips(self.participant)],
            trial=self.proto.trial.id if self.proto.trial else None,
            order_rule=self.proto.protocol.order,
        )
        self._next_step()

    def _next_step(self) -> None:
        self.index += 1
        if self.index >= len(self.steps):
            t = self.view.show_text(self.proto.protocol.end_text)
            self.state, self.completed, self._end_t = "done", True, time.monotonic()
            self.mark("session_end", t, completed=True)
            self.publish_state()
            return
        step = self.steps[self.index]
        self._step_t0, self._paused_for, self._last_count = time.monotonic(), 0.0, None
        if step.kind == "clip":
            self._begin_clip(step)
        elif step.kind == "break":
            self._begin_break(step)
        else:
            self.state = "text"
            t = self.view.show_text(step.text)
            self._step_t0 = t / 1e9  # timed from when it is on screen, as a break is
            self.mark("text", t, text=step.text)
        self.publish_state()

    # -- clips ---------------------------------------------------------------------------------
    def _begin_clip(self, step: Step) -> None:
        self.state = "clip"
        self._onset_ns = 0
        self.player = ClipPlayer(
            self.paths[step.the_clip.id], self.sound, fit=self.view.video_size(), volume=self.proto.audio.volume
        )
        self.player.start()
        if self.paused:
            self.player.pause()

    def _tick_clip(self) -> float:
        p = self.player
        assert p is not None  # a clip step has its player from _begin_clip on
        f = p.due_frame()
        if f is not None:
            diode = self.proto.display.photodiode != "none" and f.pts < self.proto.display.photodiode_ms / 1000
            scheduled = time.monotonic_ns()
            t = self.view.show_frame(f.rgb, diode)
            if not self._onset_ns:
                self._onset(t, scheduled, f.pts)
        if p.errors:
            self._end_step(reason="error", error=p.errors[0])
        elif p.ended:
            self._end_step(reason="end")
        return min(p.next_due_in(), 0.01)

    def _onset(self, t_ns: int, scheduled_ns: int, pts: float) -> None:
        step = self.steps[self.index]
        self._onset_ns = t_ns
        c = step.the_clip
        body = dict(
            clip=c.id,
            title=c.title,
            trial=step.trial,
            emotions=c.emotions,
            file=str(self.paths[c.id]),
            index=self.index,
            frame_pts=pts,
            clock=self.player.clock_source if self.player else "",
            due_ns=scheduled_ns,
            photodiode=self.proto.display.photodiode,
        )
        self.mark("clip_onset", t_ns, **body)
        self.sink.emit(CHIRP, {"reason": "clip_onset", "clip": c.id, "onset_host_ns": t_ns}, t_ns)
        self.clip_log.append({"clip": c.id, "onset_ns": t_ns, "due_ns": scheduled_ns})

    def _end_clip(self, t_ns: int, reason: str, error: str = "") -> None:
        step, p = self.steps[self.index], self.player
        assert p is not None  # a clip step has its player from _begin_clip on
        body = dict(
            clip=step.the_clip.id,
            trial=step.trial,
            reason=reason,
            played_s=round(p.position_s + p.frame_s, 3),
            frames_shown=p.shown,
            frames_dropped=p.dropped,
            audio_gap_s=round(p.audio_gap_s, 4),
            clock=p.clock_source,
        )
        if error:
            body["error"] = error
        self.mark("clip_offset", t_ns, **body)
        if self.clip_log:
            self.clip_log[-1].update(offset_ns=t_ns, shown=p.shown, dropped=p.dropped)
        p.close()
        self.player = None

    # -- breaks ---------------------------------------------------------------------------------
    def _break_len(self) -> float:
        step = self.steps[self.index]
        return step.seconds if step.kind == "text" else self.proto.protocol.break_s

    def _break_left(self) -> float:
        step = self.steps[self.index]
        if step.kind == "break" and self.proto.protocol.break_s <= 0:
            return float("inf") if self.proto.survey and not self._submitted else 0.0
        paused = self._paused_for + (time.monotonic() - self._pause_t if self.paused else 0.0)
        return self._break_len() - (time.monotonic() - self._step_t0 - paused)

    def _begin_break(self, step: Step) -> None:
        self.state = "break"
        self._submitted = False
        if self.proto.survey:
            t = self.view.show_survey(step.the_clip.title, self.proto.survey)
        else:
            t = self.view.show_text("Please relax.")
        # the break lasts from when the participant sees it (its marker's time), not from when it
        # was asked for: a loaded host took 0.14 s to build the survey, and the break came out short
        self._step_t0 = t / 1e9
        self.mark(
            "break_start",
            t,
            clip=step.the_clip.id,
            trial=step.trial,
            length_s=self.proto.protocol.break_s,
            survey=[q.id for q in self.proto.survey],
        )

    def _record_survey(self, submitted: bool) -> None:
        step = self.steps[self.index]
        self._submitted = True
        self.mark(
            "survey_answer",
            clip=step.the_clip.id,
            trial=step.trial,
            submitted=submitted,
            answers=self.view.survey_answers(),
            response_s=round(time.monotonic() - self._step_t0, 3),
        )

    def _end_step(self, reason: str = "end", error: str = "") -> None:
        step = self.steps[self.index]
        if step.kind == "clip":
            # the offset is the time a blank screen replaced the clip's last frame
            self._end_clip(self.view.show_text(""), reason, error)
        elif step.kind == "break":
            if self.proto.survey and not self._submitted:
                self._record_survey(False)
            self.mark("break_end", clip=step.the_clip.id, reason=reason)
        self._next_step()

    def _abort(self) -> None:
        if self.state == "clip" and self.player is not None:
            self._end_clip(self.view.show_text(""), "aborted")
        elif self.state == "break" and self.proto.survey and not self._submitted:
            self._record_survey(False)
        t = self.view.show_text("The session was stopped.")
        self.state, self._end_t = "aborted", time.monotonic()
        self.mark("session_end", t, completed=False)
        self.publish_state()

    def close(self) -> None:
        if self.player is not None:
            self.player.close()
            self.player = None
