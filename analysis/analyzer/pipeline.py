"""The per-frame analyzer, used the same way live (analysis/node.py) and offline (`analyze`).

    with Analyzer(settings, fps) as a:
        for seq, t, frame in frames:
            for message in a.process(frame, seq, t):
                publish(message)
        for message in a.finish():
            publish(message)

Messages are plain dicts (JSON bodies) with a ``type``:

* ``trace``: every ``trace_every_s``, the spotting score of each frame scored since the last
  trace (``seq``, ``t``, ``score`` lists: no frame is skipped), face quality and faces seen, and
  ``au``: every frame since the last trace with its per-frame AU intensities (``seq``, ``t``,
  ``success``, ``AU01`` ... lists; OpenFace 2's scale, 0-5, see analysis/au/intensity.py).
* ``suppressed``: an event speech explains (a mouth-only movement while the participant talks,
  analysis/speech), sent instead of the event when ``[analyzer] speech = "suppress"``.
* ``face``: the face was ``acquired``, ``lost`` or ``reacquired`` (seq, t).
* ``event``: a spotted interval: kind (micro, macro, blink, static), onset/apex/offset as frame
  seq and seconds, duration, peak score, method, AUs with their strength, emotion and the rule
  that gave it.  Macro intervals come from the flow spotters and from the per-frame AU
  trajectories (method ``au-track``, spotting/au_track.py); a flow interval overlapping an
  AU-track one is the same movement and is dropped.  ``static`` (over 4 s) is reported once, at
  4 s, with its onset, and is excluded from the study's micro/macro counts.

The output depends only on the frames and their order and times, so the same recording gives the
same events live and offline.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from mestudio.analysis.analyzer import fusion
from mestudio.analysis.analyzer.errors import LearntModelUnavailableError
from mestudio.analysis.analyzer.scales import ScaleBank
from mestudio.analysis.au import MEASURES, LandmarkAUEstimator, measures
from mestudio.analysis.au.intensity import FRAME_AUS, PRESENT_AT, FrameAUs
from mestudio.analysis.au.learnt import load_learnt_au_model
from mestudio.analysis.au.measures import BrowRows
from mestudio.analysis.emotion import emotion_from_aus
from mestudio.analysis.face import Aligner, FaceTracker
from mestudio.analysis.face.align import apply
from mestudio.analysis.face.frontal import Frontalizer
from mestudio.analysis.face.overlay import overlay
from mestudio.analysis.face.pose import HeadPose, tilt_deg
from mestudio.analysis.settings import AnalyzerSettings
from mestudio.analysis.speech import SpeechTimeline, mouth_only
from mestudio.analysis.spotting import MACRO_MAX_S, Interval
from mestudio.analysis.spotting.au_track import METHOD as AU_TRACK
from mestudio.analysis.spotting.au_track import AUTrackSpotter

HISTORY_S = 8.0  # frames kept for AU estimation: longest interval (4 s) + latencies, with margin
TRACK_EXCLUDE = frozenset({45})  # a blink is not a held expression: not in the AU-track activity
_TRACK_COLS = [i for i, a in enumerate(FRAME_AUS) if a not in TRACK_EXCLUDE]


class Analyzer:
    def __init__(self, settings: AnalyzerSettings, fps: float, log=None) -> None:
        self.settings, self.fps = settings, fps
        self.tracker = FaceTracker(max_faces=settings.max_faces)
        self.aligner = Aligner()
        self.bank = self._new_bank()
        self.au = LandmarkAUEstimator(fps, z=settings.au_z)
        self.frame_aus = FrameAUs(fps)
        self.brows = BrowRows()
        self.pose = HeadPose()
        self.frontal = Frontalizer() if settings.frontalize else None
        self.head_suppressed = 0
        self.track = AUTrackSpotter(fps)
        # the AU track sees each AU's median over ~0.1 s: one-frame jumps of the mesh do not
        # hold an interval open (its onset and offset shift by half that window at most)
        self._recent: deque[np.ndarray] = deque(maxlen=max(3, int(round(0.1 * fps)) | 1))
        self._track_ivs: list[Interval] = []  # recent AU-track intervals (static included)
        self._flow_pending: list[Interval] = []  # flow intervals held while the AU track is open
        self._regions: dict[int, frozenset[int]] | None = None  # AU -> spotting blocks (fusion)
        self._fused: dict[tuple[int, int, str], dict] = {}  # weak intervals the AU streams confirmed
        # weak flow intervals (under z_high, over fusion's lower bar) seen, and those the AUs confirmed
        self.fusion_counts = {"weak_candidates": 0, "confirmed": 0}
        self.learnt = None
        self.notes: list[str] = []
        if settings.au_model:
            try:
                self.learnt = load_learnt_au_model(settings.au_model, settings.au_checkpoint)
            except LearntModelUnavailableError as e:
                self.notes.append(f"{e}; using the landmark AU estimator instead")
                if log is not None:
                    log.warning(self.notes[-1])
        self._hist: deque[
            tuple[int, int, float, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray | None]
        ] = deque(maxlen=int(HISTORY_S * fps))
        # (push index, seq, t, measures, crop for a learnt model, AU evidence, head rotation,
        # each AU's change in its quiet spreads for spotting fusion)
        self._n = 0
        self._face = False
        self._trace: dict[str, list] = {"seq": [], "t": [], "score": []}
        self._au_trace: dict[str, list] = self._new_au_trace()
        self._last_trace_t: float | None = None
        self._quality: list[float] = []
        self._faces = 0
        self._overlay: tuple[int, np.ndarray] | None = None  # (seq, landmarks) of the newest face
        self.frames = 0
        self.frames_with_face = 0
        self.frames_damaged = 0
        self.events: list[dict] = []
        self.speech = SpeechTimeline()  # voice on the microphone, fed by add_speech
        self.speech_suppressed = 0
        self.speech_marked = 0

    def _new_bank(self) -> ScaleBank:
        s = self.settings
        return ScaleBank(
            s.method,
            self.fps,
            s.micro_k_s,
            s.macro_k_s if s.macro else None,
            s.z_high,
            s.z_low,
            s.macro_z_high,
            s.warmup_s,
            s.mdmd_flow,
            weak_z=(lambda z: fusion.weak_z(z, s.fusion_au_k, s.fusion_flow_f)) if s.fusion == "au" else None,
            confirm=self._confirm,
        )

    def latency_s(self) -> float:
        """Worst delay from a movement's offset to its event (spotting; AU and emotion add ~ms):
        a flow interval is held while an AU-track interval is open, 4 s at most."""
        return self.bank.latency_s() + MACRO_MAX_S + self.track.close_n / self.fps

    @staticmethod
    def _new_au_trace() -> dict[str, list]:
        return {"seq": [], "t": [], "success": [], **{f"AU{a:02d}": [] for a in FRAME_AUS}}

    def _add_au_row(self, seq: int, t: float, r: np.ndarray | None) -> None:
        tr = self._au_trace
        tr["seq"].append(seq)
        tr["t"].append(round(t, 6))
        tr["success"].append(int(r is not None))
        for a, v in zip(FRAME_AUS, r if r is not None else np.zeros(len(FRAME_AUS))):
            tr[f"AU{a:02d}"].append(round(float(v), 2))

    # -- per frame ---------------------------------------------------------------------------
    def process(self, frame: np.ndarray, seq: int, t: float) -> list[dict]:
        out: list[dict] = []
        self.frames += 1
        obs = self.tracker.process(frame)
        if obs is None:
            self._overlay = None
            self._add_au_row(seq, t, None)
            if self._face:
                self._face = False
                out.append({"type": "face", "state": "lost", "seq": seq, "t": round(t, 6)})
                out += self.gap()
            out += self._maybe_trace(t, None, 0)
            return out
        self.frames_with_face += 1
        if obs.reacquired:
            state = "acquired" if self.tracker.acquisitions == 1 else "reacquired"
            out.append({"type": "face", "state": state, "seq": seq, "t": round(t, 6)})
            self.aligner.reset()
            self.au.reset()
            self.frame_aus.reset()
            self.brows.reset()
            self.pose.reset()
            if self.frontal is not None:
                self.frontal.reset()
            self._recent.clear()
            self._regions = None
        self._face = True
        self._overlay = (seq, obs.landmarks)
        m = self.aligner.fit(obs.landmarks)
        crop = self.aligner.crop(frame)
        idx = self._n
        self._n += 1
        aligned = apply(m, obs.landmarks)
        if self.frontal is not None:
            frontal = self.frontal(obs.landmarks, m)
            mv = measures(frontal, self.brows(crop, aligned, frontal))
        else:
            mv = measures(aligned, self.brows(crop, aligned))
        r, evidence = self.frame_aus.push(mv)
        self._add_au_row(seq, t, r)
        sigma = None
        if self.bank.confirm is not None and self.frame_aus.ready:
            if self._regions is None:
                self._regions = fusion.au_blocks(aligned)
            sigma = self.frame_aus.changes(mv) / fusion.spreads(self.frame_aus.noise)
        self._hist.append((idx, seq, t, mv, crop if self.learnt else None, evidence, self.pose(obs.landmarks), sigma))
        self._recent.append(evidence[_TRACK_COLS])
        activity = float(np.median(np.stack(self._recent), axis=0).max()) if self.frame_aus.ready else 0.0
        track_ivs = self.track.push(idx, t, activity)
        scored, ivs = self.bank.push(crop, t)
        if scored is not None:
            self._trace["seq"].append(self._seq_of(scored.frame))
            self._trace["t"].append(round(scored.t, 6))
            self._trace["score"].append(round(scored.score, 3))
            det = self.bank.micro.detector
            if det.idle and scored.score < det.low:
                h = self._entry(scored.frame)
                if h is not None:
                    self.au.observe_quiet(h[3])
        out += self._merge(track_ivs, ivs)
        out += self._maybe_trace(t, obs.quality, obs.n_faces)
        return out

    def damaged(self, seq: int, t: float) -> list[dict]:
        """A frame the source could not decode: a row without a face in the AU table, and the
        spotters start afresh after it (as at a gap: their frames must stay k apart)."""
        self.frames += 1
        self.frames_damaged += 1
        self._overlay = None
        self._add_au_row(seq, t, None)
        return self.gap() + self._maybe_trace(t, None, 0)

    def gap(self) -> list[dict]:
        """Frames are missing here: close open intervals and restart the spotters' windows (a
        head frame and a current frame must be k frames apart, not k plus the missing ones)."""
        return self._merge(self.track.gap(), self.bank.gap(), final=True)

    def finish(self) -> list[dict]:
        """End of the stream: close open intervals and send the last trace."""
        out = self._merge(self.track.flush(), self.bank.flush(), final=True)
        out += self._maybe_trace(None, None, 0, force=True)
        return out

    def _merge(self, track_ivs: list[Interval], flow_ivs: list[Interval], final: bool = False) -> list[dict]:
        """AU-track intervals at once; flow intervals once the AU track cannot claim them (it is
        idle, or opened after them), dropped when they overlap an AU-track interval."""
        self._track_ivs = [iv for iv in self._track_ivs if iv.offset >= self._n - int(2 * HISTORY_S * self.fps)]
        self._track_ivs += track_ivs
        self._flow_pending += flow_ivs
        horizon = self.track.open_since if (self.track.holding and not final) else None
        keep, ready = [], []
        for iv in self._flow_pending:
            if horizon is not None and iv.offset >= horizon:
                keep.append(iv)
            elif not any(a.onset <= iv.offset and iv.onset <= a.offset for a in self._track_ivs):
                ready.append(iv)
        self._flow_pending = keep
        return self._intervals(track_ivs + ready)

    # -- helpers -----------------------------------------------------------------------------
    def _entry(self, idx: int):
        if not self._hist:
            return None
        pos = idx - self._hist[0][0]
        return self._hist[pos] if 0 <= pos < len(self._hist) else None

    def _seq_of(self, idx: int) -> int:
        h = self._entry(idx)
        return h[1] if h is not None else -1

    def _maybe_trace(self, t: float | None, quality: float | None, faces: int, force: bool = False) -> list[dict]:
        if quality is not None:
            self._quality.append(quality)
        self._faces = max(self._faces, faces)
        if self._last_trace_t is None and t is not None:
            self._last_trace_t = t
        last = self._last_trace_t
        due = force or (t is not None and last is not None and t - last >= self.settings.trace_every_s)
        if not due or (not self._trace["seq"] and not self._quality and not self._au_trace["seq"] and not force):
            return []
        body = {
            "type": "trace",
            **self._trace,
            "quality": round(float(np.mean(self._quality)), 3) if self._quality else 0.0,
            "faces": self._faces,
            "threshold": round(min(self.bank.micro.detector.high, 1e6), 3),
            "stream_id": self.settings.stream,
        }
        if self._au_trace["seq"]:
            body["au"] = self._au_trace
            self._au_trace = self._new_au_trace()
        if self._overlay is not None:  # for the monitor: where the face and its AU regions are
            body.update(landmarks_seq=self._overlay[0], **overlay(self._overlay[1]))
            self._overlay = None
        self._trace = {"seq": [], "t": [], "score": []}
        self._quality, self._faces = [], 0
        if t is not None:
            self._last_trace_t = t
        return [body] if body["seq"] or body["quality"] or "au" in body or force else []

    def add_speech(self, segments, open_segment: tuple[float, float] | None = None) -> None:
        """Speech segments (start, end) in the frames' clock, from the microphone's VAD (live:
        and the segment under way)."""
        self.speech.add(segments, open_segment)

    def _confirm(self, iv: Interval) -> bool:
        """Spotting fusion: a weak flow interval is an event when an AU of the face region its
        strongest blocks lie in rises and falls inside it (analyzer/fusion.py)."""
        # the flow scores frame i from frames i - k .. i + k: the movement lies within that reach
        macro = self.bank.macro
        reach = 2 * macro.k if macro is not None and iv.method.endswith("-macro") else self.bank.micro.k
        hist = [h for h in self._hist if iv.onset - reach <= h[0] <= iv.offset + reach and h[7] is not None]
        self.fusion_counts["weak_candidates"] += 1
        if self._regions is None or not hist:
            return False
        inside = [i for i, h in enumerate(hist) if iv.onset <= h[0] <= iv.offset]
        if not inside:
            return False
        aus = fusion.pointed_aus(iv.blocks, self._regions)
        rows = np.stack([h[7] for h in hist if h[7] is not None])
        found = fusion.agreement(rows, aus, self.settings.fusion_au_k, (inside[0], inside[-1]))
        if found is not None:
            self.fusion_counts["confirmed"] += 1
            if len(self._fused) > 256:
                self._fused.clear()  # only the intervals on their way to an event are looked up
            self._fused[(iv.onset, iv.offset, iv.method)] = found
        return found is not None

    def _intervals(self, ivs: list[Interval]) -> list[dict]:
        out = []
        for iv in sorted(ivs, key=lambda i: i.onset):
            ev = self._describe(iv)
            turn = self._head_turn(iv)
            if self.settings.head_motion_deg and turn > self.settings.head_motion_deg and ev["kind"] != "static":
                self.head_suppressed += 1
                out.append({"type": "suppressed", "reason": f"head rotation {turn:.0f} deg", "event": ev})
                continue
            if self._spoken(ev):
                if self.settings.speech == "suppress":
                    self.speech_suppressed += 1
                    out.append({"type": "suppressed", "reason": "mouth-only movement during speech", "event": ev})
                    continue
                self.speech_marked += 1
                ev["speech"] = "mouth-only movement during speech"
            self.events.append(ev)
            out.append(ev)
        return out

    def _head_turn(self, iv: Interval) -> float:
        """How much the head explains the interval (degrees): the largest out-of-plane rotation
        (nod or turn; a roll is aligned away) between its onset and any of its frames, or half
        that rotation from the face as it was acquired (far from that pose the projected measures
        and the learnt neutral face no longer hold)."""
        rows = [h[6] for h in self._hist if iv.onset <= h[0] <= iv.offset]
        if not rows:
            return 0.0
        turn = max((tilt_deg(rows[0], r) for r in rows[1:]), default=0.0)
        return max(turn, 0.5 * max(tilt_deg(r) for r in rows))

    def _spoken(self, ev: dict) -> bool:
        """A micro or macro movement of the mouth alone while voice covers most of it."""
        return (
            self.settings.speech != "off"
            and ev["kind"] in ("micro", "macro")
            and mouth_only(ev["aus"])
            and self.speech.during(ev["onset_s"], ev["offset_s"])
        )

    def _describe(self, iv: Interval) -> dict:
        rows = [h for h in self._hist if iv.onset <= h[0] <= iv.offset]
        series = np.stack([h[3] for h in rows]) if rows else np.zeros((0, len(MEASURES)), np.float32)
        if iv.method == AU_TRACK:
            aus, strength, source = self._track_aus(rows)
        else:
            res = self.au.estimate(series, iv.duration_s)
            aus, strength, source = res.aus, res.strength, "landmarks"
        crops = [h[4] for h in rows if h[4] is not None]
        if self.learnt is not None and crops:
            aus, strength = self.learnt.predict(crops)
            source = self.settings.au_model
        kind = iv.kind
        if aus and set(aus) <= {43, 45}:
            kind = "blink"  # no emotional content (Table 4): not an expression
        emo = emotion_from_aus(aus)
        ev = {
            "type": "event",
            "kind": kind,
            "method": iv.method,
            "onset_seq": self._seq_of(iv.onset),
            "apex_seq": self._seq_of(iv.apex),
            "offset_seq": self._seq_of(iv.offset),
            "onset_s": round(iv.onset_s, 6),
            "apex_s": round(iv.apex_s, 6),
            "offset_s": round(iv.offset_s, 6),
            "duration_s": round(iv.duration_s, 4),
            "peak": iv.peak,
            "aus": aus,
            "au_strength": {str(k): v for k, v in strength.items()},
            "au_source": source,
            "emotion": emo.label,
            "emotions": list(emo.emotions),
            "emotion_rule": emo.rule,
        }
        if iv.weak:  # under the flow's own bar: the AU stream that agreed (spotting fusion)
            f = self._fused.get((iv.onset, iv.offset, iv.method), {})
            ev["fusion"] = {"au": f.get("au"), "rise_sigma": f.get("rise"), "fall_sigma": f.get("fall")}
        if kind == "static":
            ev["excluded"] = True  # over 4 s: not a micro or macro expression (the study's rule)
        return ev

    @staticmethod
    def _track_aus(rows) -> tuple[list[int], dict[int, float], str]:
        """The AUs of an AU-track interval: those held at PRESENT_AT or more (the 80th percentile
        of the interval's frames: a held expression, not a one-frame jump of the mesh), and at a
        quarter of the strongest AU (the mesh couples its regions a little).  A blink inside a
        held expression is not part of it; a brow lowering weaker than a cheek raise is the
        cheek's pull on the skin round the eye (as in the interval estimator)."""
        if not rows:
            return [], {}, "au-intensity"
        peak = np.percentile(np.stack([h[5] for h in rows]), 80, axis=0)
        top = max(float(peak[i]) for i in _TRACK_COLS)
        aus = [a for i, a in enumerate(FRAME_AUS) if i in _TRACK_COLS and peak[i] >= max(PRESENT_AT, 0.25 * top)]
        level = {a: float(peak[FRAME_AUS.index(a)]) for a in aus}
        if 4 in aus and 6 in aus and level[4] < level[6]:
            aus.remove(4)
        if 25 in aus and 26 in aus:
            aus.remove(25)  # a jaw drop includes the lips parting
        return aus, {a: round(float(peak[FRAME_AUS.index(a)]), 2) for a in aus}, "au-intensity"

    def close(self) -> None:
        self.tracker.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
