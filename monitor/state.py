"""What the window shows, built from the session's non-frame messages.  Plain Python, no Qt.

The monitor reads other stages' messages by their documented fields (docs/monitor.md) and is
lenient about the rest: a field it does not know is ignored, a message it cannot read is counted
and logged once, never fatal.  Times are seconds on the session timeline: host monotonic ns minus
the session's ``t0_host_ns`` (from its manifest; else the first message seen).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mestudio.stream import messages, wire
from mestudio.stream.backlog import BEHIND_S

SCORE_HISTORY_S = 60.0
MAX_INTERVALS = 200
MAX_LOG = 1000
ANALYZER_NOTES = ("start", "face", "gap", "note")
# the 4DME study's eight detected AUs (analysis/au/intensity.py STUDY_AUS: the monitor may not
# import the analysis stage) and how much of their per-frame trace the AU-trace panel keeps
TRACE_AUS = ("AU01", "AU02", "AU04", "AU06", "AU07", "AU12", "AU17", "AU45")
AU_TRACE_S = 10.0


@dataclass
class FaceOverlay:
    stream_id: str
    seq: int | None
    landmarks: np.ndarray  # (N, 2) pixel coordinates in the full-size frame
    rois: dict[str, tuple[float, float, float, float]]  # name -> x, y, w, h (pixels)
    t_s: float


@dataclass
class SpottedInterval:
    start_s: float
    end_s: float
    label: str


@dataclass
class SyncHealth:
    offset_ms: float | None = None
    drift_ppm: float | None = None
    jitter_ms: float | None = None


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _au_name(k: Any) -> str:
    return f"AU{k}" if str(k).isdigit() else str(k)


def _ms(d: dict, name: str) -> float | None:
    """``name`` in ms from ``name_ms``, ``name_ns``, ``name_us`` or ``name_s``."""
    for suffix, scale in (("_ms", 1.0), ("_ns", 1e-6), ("_us", 1e-3), ("_s", 1e3)):
        v = _num(d.get(name + suffix))
        if v is not None:
            return v * scale
    return None


class MonitorState:
    """Accumulates results, markers, sync health and protocol state for the panels."""

    def __init__(self, t0_host_ns: int | None = None) -> None:
        self.t0_ns = t0_host_ns
        self.now_s = 0.0  # latest session time seen on any message
        self.score: collections.deque[tuple[float, float]] = collections.deque(maxlen=20000)
        self.threshold: float | None = None
        self.intervals: collections.deque[SpottedInterval] = collections.deque(maxlen=MAX_INTERVALS)
        self.marks: collections.deque[tuple[float, str]] = collections.deque(maxlen=MAX_INTERVALS)
        self.aus: dict[str, float] = {}  # AU -> strength (the analyzer's z-scores, or probabilities)
        # AU -> (session s, intensity 0-5) of every frame, from the traces' per-frame AUs
        self.au_trace: dict[str, collections.deque[tuple[float, float]]] = {
            a: collections.deque(maxlen=4000) for a in TRACE_AUS
        }
        self.au_active: set[str] = set()  # the AUs the latest event was decided to show
        self.emotion: str | None = None
        self.emotion_detail: str = ""
        self.faces: dict[str, FaceOverlay] = {}
        self.analyzer_stream = ""  # the stream the analyzer follows, from its "start" message
        self.face_state = ""  # "tracked" or "lost", from its "face" messages
        self.sync: dict[str, SyncHealth] = {}
        self.sync_summary: dict[str, Any] = {}
        self.elicit: dict[str, Any] = {}
        self.stream_info: dict[str, dict] = {}
        self.ended: dict[str, dict] = {}
        self.recorder: messages.RecorderStatus | None = None  # the recorder's last backlog report
        self.session_stopped = False
        self.recording_paused = False  # from the record-stop/record-start commands echoed by the supervisor
        self.protocol_paused = False
        self.log: collections.deque[str] = collections.deque(maxlen=MAX_LOG)
        self.new_log: list[str] = []
        self.unreadable = 0
        self.counts: collections.Counter[str] = collections.Counter()
        self._warned: set[str] = set()

    # -- time -----------------------------------------------------------------------------
    def session_s(self, host_ns: int) -> float:
        if self.t0_ns is None:
            self.t0_ns = host_ns
        return (host_ns - self.t0_ns) / 1e9

    def observe(self, host_ns: int) -> None:
        """Advance the session clock with a frame's capture time (frames do not pass through apply)."""
        self.now_s = max(self.now_s, self.session_s(host_ns))

    def host_s(self, host_seconds: float) -> float:
        """Session time of a host-clock time given in seconds (the analyzer's ``t`` and ``*_s``)."""
        return self.session_s(int(round(float(host_seconds) * 1e9)))

    def _time_of(self, body: dict, key: str, default_s: float) -> float:
        """A host-clock time in a body: ``<key>_host_ns``/``<key>_ns`` or ``<key>_s`` (seconds)."""
        for k in (f"{key}_host_ns", f"{key}_ns"):
            v = _num(body.get(k))
            if v is not None:
                return self.session_s(int(v))
        v = _num(body.get(f"{key}_s"))
        return default_s if v is None else self.host_s(v)

    def _say(self, t_s: float, text: str) -> None:
        line = f"{t_s:8.2f} s  {text}"
        self.log.append(line)
        self.new_log.append(line)

    def take_log(self) -> list[str]:
        out, self.new_log = self.new_log, []
        return out

    # -- messages -------------------------------------------------------------------------
    def apply(self, msg: wire.Message) -> None:
        """Take one EVENT/HEARTBEAT/END message; frames never come here."""
        t = self.session_s(msg.header.host_time_ns)
        self.now_s = max(self.now_s, t)
        body = msg.data if isinstance(msg.data, dict) else {}
        channel = msg.topic.split("/", 1)[0]
        self.counts[channel] += 1
        try:
            if msg.kind == wire.Kind.END:
                self._end(msg.header.stream_id, body, t)
            elif channel == "results":
                self._result(body, t, msg.header.stream_id)
            elif channel == "sync":
                self._sync(body, t)
            elif msg.topic.endswith("/elicit") or channel in ("markers", "state"):
                self._elicit(msg.topic, body, t)
            elif channel == "info":
                self.stream_info[body.get("stream_id", msg.header.stream_id)] = body
            elif channel == "command":
                self._command(msg.topic.removeprefix(messages.COMMAND), body, t)
            elif channel == "session":
                self.session_stopped = msg.topic == messages.SESSION_STOP  # a looping replay starts again
                self._say(
                    t,
                    f"session {msg.topic.split('/', 1)[1]}"
                    + (f": {'; '.join(map(str, body['problems']))}" if body.get("problems") else ""),
                )
            elif msg.topic == messages.RECORDER_STATUS:
                self._recorder_status(body, t)
            elif channel in ("recorder", "error", "warning"):
                self._say(t, f"{msg.topic}: {body.get('error') or body.get('message') or body}")
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            self.unreadable += 1
            if msg.topic not in self._warned:
                self._warned.add(msg.topic)
                self._say(t, f"could not read a {msg.topic} message ({type(e).__name__}: {e}); ignoring it")

    def _recorder_status(self, body: dict, t: float) -> None:
        """The recorder's backlog (a bad body raises ValueError: counted, never shown)."""
        status = messages.RecorderStatus.model_validate(body)
        was = self.recorder.backlog_s > BEHIND_S if self.recorder is not None else False
        if status.cannot_keep_up and (self.recorder is None or not self.recorder.cannot_keep_up):
            self._say(t, f"RECORDER CANNOT KEEP UP: {status.backlog_s:.1f} s behind, ~{status.queued_mb:.0f} MB queued")
        if status.shedding != (self.recorder is not None and self.recorder.shedding):
            self._say(
                t,
                f"RECORDER SHEDDING FRAMES: ~{status.queued_mb:.0f} MB queued, past recorder.shed_above_mb; "
                "frames are counted, not written"
                if status.shedding
                else f"recorder writes again (~{status.queued_mb:.0f} MB queued)",
            )
        self.recorder = status
        if (status.backlog_s > BEHIND_S) != was:
            worst = max(status.streams, key=lambda k: status.streams[k], default="")
            self._say(
                t,
                f"recorder {status.backlog_s:.1f} s behind"
                + (f" (worst: {worst})" if worst else "")
                + ("; frames wait in its queue, none are lost yet" if not was else "; caught up"),
            )

    def _end(self, sid: str, body: dict, t: float) -> None:
        self.ended[sid] = body
        frames = body.get("frames")
        lost = (body.get("device_dropped") or 0) + (body.get("dropped_for_recorder") or 0)
        self._say(
            t,
            f"{sid} ended"
            + (f" after {frames} frames" if frames is not None else "")
            + (f", {lost} lost at the source" if lost else ""),
        )

    def _result(self, body: dict, t: float, producer: str) -> None:
        kind = body.get("type")
        if kind in ANALYZER_NOTES:
            self._analyzer_note(kind, body, t)
            return
        if kind == "trace":  # a batch of scores: t (host s), score, and the current threshold
            for tt, sc in zip(body.get("t") or [], body.get("score") or []):
                if _num(sc) is not None:
                    self.score.append((self.host_s(tt), float(sc)))
            if isinstance(body.get("au"), dict):
                self._au_frames(body["au"])
        bt = self._time_of(body, "host_time", t) if ("host_time_ns" in body or "host_time_s" in body) else t
        score = _num(body.get("score"))
        if score is not None:
            self.score.append((bt, score))
        thr = _num(body.get("threshold"))
        if thr is not None:
            self.threshold = thr
        if body.get("landmarks") is not None or body.get("rois") is not None:
            self._face(body, bt, producer)
        ev = body.get("event") if isinstance(body.get("event"), dict) else None
        if ev is None and any(k in body for k in ("onset_ns", "onset_host_ns", "onset_s")):
            ev = body
        if ev is not None:
            self._spotted(ev, bt)
        elif body.get("aus") is not None or body.get("emotion") is not None:
            self._aus_emotion(body)

    def _analyzer_note(self, kind: str, body: dict, t: float) -> None:
        if kind == "start":
            self.analyzer_stream = str(body.get("stream") or "")
            lat = _num(body.get("latency_s"))
            self._say(
                t,
                f"analyzer started on {self.analyzer_stream}"
                + (f" (events come up to {lat:.1f} s after a movement ends)" if lat else ""),
            )
        elif kind == "face":
            state = str(body.get("state"))
            self.face_state = "tracked" if state in ("acquired", "reacquired") else state
            self._say(t, f"face {state}")
        elif kind == "gap":
            seqs = f"{body.get('from_seq')}-{body.get('to_seq')}"
            self._say(t, f"analyzer missed {body.get('missing')} frames (seq {seqs})")
        else:
            self._say(t, f"analyzer: {body.get('text', body)}")

    def _face(self, body: dict, t: float, producer: str) -> None:
        lm = np.asarray(body.get("landmarks") or np.zeros((0, 2)), dtype=np.float32)
        lm = lm.reshape(-1, lm.shape[-1])[:, :2] if lm.size else np.zeros((0, 2), np.float32)
        rois = body.get("rois") or {}
        if isinstance(rois, list):
            rois = {str(i): r for i, r in enumerate(rois)}
        box = body.get("face_box") or body.get("bbox")
        if box is not None:
            rois = {**rois, "face": box}
        rois = {str(k): tuple(float(x) for x in v[:4]) for k, v in rois.items()}
        sid = str(body.get("stream_id") or producer)
        self.faces[sid] = FaceOverlay(sid, body.get("landmarks_seq", body.get("seq")), lm, rois, t)

    def _spotted(self, ev: dict, t: float) -> None:
        start = self._time_of(ev, "onset", t)
        end = self._time_of(ev, "offset", start)
        kind = str(ev.get("label") or ev.get("kind") or ev.get("type") or "event")
        self._aus_emotion(ev)
        label = kind + (f" {self.emotion}" if ev.get("emotion") is not None and self.emotion else "")
        self.intervals.append(SpottedInterval(start, max(end, start), label))
        if isinstance(ev.get("aus"), list):  # the AUs the analyzer decided on
            aus = "+".join(_au_name(a.get("au") if isinstance(a, dict) else a) for a in ev["aus"])
        else:
            aus = "+".join(k for k, v in sorted(self.aus.items(), key=lambda kv: -kv[1]) if v >= 0.5)
        emotion = "no emotion" if self.emotion == "None" else self.emotion  # the study's "None" class
        self._say(
            t,
            f"spotted {kind} {start:.2f}-{end:.2f} s"
            + (f"  {aus}" if aus else "")
            + (f"  {emotion}" if ev.get("emotion") is not None and emotion else ""),
        )

    def _aus_emotion(self, d: dict) -> None:
        aus, strength = d.get("aus"), d.get("au_strength")
        if isinstance(aus, list):
            self.au_active = {_au_name(a.get("au") or a.get("name") if isinstance(a, dict) else a) for a in aus}
        if isinstance(strength, dict) and (strength or isinstance(aus, list)):  # the analyzer: {"4": 6.3}
            self.aus = {_au_name(k): float(v) for k, v in strength.items() if _num(v) is not None}
            self.aus.update({a: 1.0 for a in self.au_active if a not in self.aus})
        elif isinstance(aus, dict):
            self.aus = {str(k): float(v) for k, v in aus.items() if _num(v) is not None}
            self.au_active = {k for k, v in self.aus.items() if v >= 0.5}
        elif isinstance(aus, list):
            parsed: dict[str, float] = {}
            for a in aus:
                if isinstance(a, dict):
                    p = a.get("p", a.get("intensity"))
                    parsed[str(a.get("au") or a.get("name"))] = float(1.0 if p is None else p)
                else:
                    parsed[_au_name(a)] = 1.0
            self.aus = parsed
        emo = d.get("emotion")
        if isinstance(emo, dict):
            self.emotion = str(emo.get("label") or emo.get("name"))
            p = _num(emo.get("p", emo.get("confidence")))
            self.emotion_detail = f"p = {p:.2f}" if p is not None else ""
        elif emo is not None:
            self.emotion = str(emo)
            p = _num(d.get("emotion_p", d.get("confidence")))
            self.emotion_detail = f"p = {p:.2f}" if p is not None else ""

    def _sync(self, body: dict, t: float) -> None:
        per = body.get("streams")
        items = per.items() if isinstance(per, dict) else [(body.get("stream_id"), body)]
        for sid, d in items:
            if sid is None or not isinstance(d, dict):
                continue
            h = self.sync.setdefault(str(sid), SyncHealth())
            h.offset_ms = _ms(d, "offset") if _ms(d, "offset") is not None else h.offset_ms
            drift = _num(d.get("drift_ppm"))
            h.drift_ppm = drift if drift is not None else h.drift_ppm
            h.jitter_ms = _ms(d, "jitter") if _ms(d, "jitter") is not None else h.jitter_ms
        self.sync_summary = {k: v for k, v in body.items() if k != "streams"}
        for w in body.get("warnings") or []:
            self._say(t, f"sync: {w}")

    def _elicit(self, topic: str, body: dict, t: float) -> None:
        if topic == messages.STATE_ELICIT:
            # a state message is the whole state: nothing stale (a clip name) survives it; the
            # controller's own model says which fields there are (a bad body raises ValueError)
            state = messages.ElicitState.model_validate(body)
            self.elicit = {**state.to_wire(), "_t": t, "last_marker": self.elicit.get("last_marker")}
            self.protocol_paused = state.paused
            return
        what = body.get("marker") or body.get("event") or body.get("type") or topic
        clip = body.get("clip") or body.get("name")
        self.elicit = {**self.elicit, "last_marker": str(what), "_t": t, **({"clip": clip} if clip else {})}
        self._say(t, f"protocol: {what}" + (f" {clip}" if clip else ""))

    def _command(self, verb: str, body: dict, t: float) -> None:
        who = body.get("from") or body.get("by")
        if verb in ("record-stop", "record-start"):
            self.recording_paused = verb == "record-stop"
        elif verb in ("pause", "resume"):
            self.protocol_paused = verb == "pause"
        if verb == "mark":
            mt = self._time_of(body, "host_time", t) if "host_time_ns" in body else t
            self.marks.append((mt, str(body.get("note") or body.get("label") or "mark")))
        self._say(
            t,
            f"operator: {verb}" + (f" ({body['note']})" if body.get("note") else "") + (f" from {who}" if who else ""),
        )

    # -- derived views ---------------------------------------------------------------------
    def _au_frames(self, au: dict) -> None:
        """Per-frame AU intensities of a trace (``t`` list and one list per AU); a malformed
        value is skipped and counted, the rest kept."""
        t = au.get("t")
        ts = t if isinstance(t, list) else []
        for name in TRACE_AUS:
            vals = au.get(name)
            if not isinstance(vals, list):
                continue
            for tt, v in zip(ts, vals):
                tv, vv = _num(tt), _num(v)
                if tv is None or vv is None:
                    self.counts["bad_au_values"] += 1
                    continue
                self.au_trace[name].append((self.host_s(tv), vv))

    def au_trace_window(self, span_s: float = AU_TRACE_S) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each trace AU's (times, intensities) over the last ``span_s`` seconds of any AU."""
        last = max((d[-1][0] for d in self.au_trace.values() if d), default=None)
        out = {}
        for name, d in self.au_trace.items():
            a = np.asarray(d, dtype=np.float64).reshape(-1, 2)
            keep = a[:, 0] >= (last - span_s) if last is not None else np.zeros(len(a), bool)
            out[name] = (a[keep, 0], a[keep, 1])
        return out

    def score_window(self, span_s: float = SCORE_HISTORY_S) -> tuple[np.ndarray, np.ndarray]:
        if not self.score:
            return np.zeros(0), np.zeros(0)
        a = np.asarray(self.score, dtype=np.float64)
        keep = a[:, 0] >= a[-1, 0] - span_s
        return a[keep, 0], a[keep, 1]

    def elicit_text(self) -> str:
        """One line: phase, clip (i/n), time left, paused."""
        e = self.elicit
        if not e:
            return "no protocol running"
        phase = e.get("state") or e.get("last_marker") or ""
        parts = [str(phase)]
        idx, n = e.get("step"), e.get("steps")  # messages.ElicitState: step is 0-based, -1 before the first
        clip = e.get("clip")
        if clip or idx is not None:
            where = f"({min(int(idx) + 1, int(n))}/{n})" if idx is not None and idx >= 0 and n else ""
            parts.append((f"{clip} " if clip else "") + where)
        pos = _num(e.get("position_s"))
        if pos is not None and phase == "clip":
            parts.append(f"{pos:.0f} s in")
        left = _num(e.get("break_left_s"))
        if left is not None:
            parts.append(f"{left:.0f} s left")
        if e.get("paused"):
            parts.append("PAUSED")
        return "  ·  ".join(p for p in parts if p)
