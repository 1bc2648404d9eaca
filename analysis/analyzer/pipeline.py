"""The per-frame analyzer, used the same way live (analysis/node.py) and offline (`analyze`).

    with Analyzer(settings, fps) as a:
        for seq, t, frame in frames:
            for message in a.process(frame, seq, t):
                publish(message)
        for message in a.finish():
            publish(message)

Messages are plain dicts (JSON bodies) with a ``type``:

* ``trace``: every ``trace_every_s``, the spotting score of each frame scored since the last
  trace (``seq``, ``t``, ``score`` lists: no frame is skipped), face quality and faces seen.
* ``face``: the face was ``acquired``, ``lost`` or ``reacquired`` (seq, t).
* ``event``: a spotted interval: kind (micro, macro, blink), onset/apex/offset as frame seq and
  seconds, duration, peak score, method, AUs with their strength, emotion and the rule that gave it.

The output depends only on the frames and their order and times, so the same recording gives the
same events live and offline.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from mestudio.analysis.analyzer.errors import LearntModelUnavailableError
from mestudio.analysis.analyzer.scales import ScaleBank
from mestudio.analysis.au import MEASURES, LandmarkAUEstimator, measures
from mestudio.analysis.au.learnt import load_learnt_au_model
from mestudio.analysis.emotion import emotion_from_aus
from mestudio.analysis.face import Aligner, FaceTracker
from mestudio.analysis.face.align import apply
from mestudio.analysis.face.overlay import overlay
from mestudio.analysis.settings import AnalyzerSettings
from mestudio.analysis.spotting import Interval

HISTORY_S = 8.0  # frames kept for AU estimation: longest interval (4 s) + latencies, with margin


class Analyzer:
    def __init__(self, settings: AnalyzerSettings, fps: float, log=None) -> None:
        self.settings, self.fps = settings, fps
        self.tracker = FaceTracker(max_faces=settings.max_faces)
        self.aligner = Aligner()
        self.bank = self._new_bank()
        self.au = LandmarkAUEstimator(fps, z=settings.au_z)
        self.learnt = None
        self.notes: list[str] = []
        if settings.au_model:
            try:
                self.learnt = load_learnt_au_model(settings.au_model, settings.au_checkpoint)
            except LearntModelUnavailableError as e:
                self.notes.append(f"{e}; using the landmark AU estimator instead")
                if log is not None:
                    log.warning(self.notes[-1])
        self._hist: deque[tuple[int, int, float, np.ndarray, np.ndarray | None]] = deque(
            maxlen=int(HISTORY_S * fps)
        )  # (push index, seq, t, measures, crop for a learnt model)
        self._n = 0
        self._face = False
        self._trace: dict[str, list] = {"seq": [], "t": [], "score": []}
        self._last_trace_t: float | None = None
        self._quality: list[float] = []
        self._faces = 0
        self._overlay: tuple[int, np.ndarray] | None = None  # (seq, landmarks) of the newest face
        self.frames = 0
        self.frames_with_face = 0
        self.events: list[dict] = []

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
        )

    def latency_s(self) -> float:
        """Worst delay from a movement's offset to its event (spotting; AU and emotion add ~ms)."""
        return self.bank.latency_s()

    # -- per frame ---------------------------------------------------------------------------
    def process(self, frame: np.ndarray, seq: int, t: float) -> list[dict]:
        out: list[dict] = []
        self.frames += 1
        obs = self.tracker.process(frame)
        if obs is None:
            self._overlay = None
            if self._face:
                self._face = False
                out.append({"type": "face", "state": "lost", "seq": seq, "t": round(t, 6)})
                out += self._intervals(self.bank.gap())
            out += self._maybe_trace(t, None, 0)
            return out
        self.frames_with_face += 1
        if obs.reacquired:
            state = "acquired" if self.tracker.acquisitions == 1 else "reacquired"
            out.append({"type": "face", "state": state, "seq": seq, "t": round(t, 6)})
            self.aligner.reset()
            self.au.reset()
        self._face = True
        self._overlay = (seq, obs.landmarks)
        m = self.aligner.fit(obs.landmarks)
        crop = self.aligner.crop(frame)
        idx = self._n
        self._n += 1
        self._hist.append((idx, seq, t, measures(apply(m, obs.landmarks)), crop if self.learnt else None))
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
        out += self._intervals(ivs)
        out += self._maybe_trace(t, obs.quality, obs.n_faces)
        return out

    def gap(self) -> list[dict]:
        """Frames are missing here: close open intervals and restart the spotters' windows (a
        head frame and a current frame must be k frames apart, not k plus the missing ones)."""
        return self._intervals(self.bank.gap())

    def finish(self) -> list[dict]:
        """End of the stream: close open intervals and send the last trace."""
        out = self._intervals(self.bank.flush())
        out += self._maybe_trace(None, None, 0, force=True)
        return out

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
        if not due or (not self._trace["seq"] and not self._quality and not force):
            return []
        body = {
            "type": "trace",
            **self._trace,
            "quality": round(float(np.mean(self._quality)), 3) if self._quality else 0.0,
            "faces": self._faces,
            "threshold": round(min(self.bank.micro.detector.high, 1e6), 3),
            "stream_id": self.settings.stream,
        }
        if self._overlay is not None:  # for the monitor: where the face and its AU regions are
            body.update(landmarks_seq=self._overlay[0], **overlay(self._overlay[1]))
            self._overlay = None
        self._trace = {"seq": [], "t": [], "score": []}
        self._quality, self._faces = [], 0
        if t is not None:
            self._last_trace_t = t
        return [body] if body["seq"] or body["quality"] or force else []

    def _intervals(self, ivs: list[Interval]) -> list[dict]:
        out = []
        for iv in sorted(ivs, key=lambda i: i.onset):
            ev = self._describe(iv)
            self.events.append(ev)
            out.append(ev)
        return out

    def _describe(self, iv: Interval) -> dict:
        rows = [h for h in self._hist if iv.onset <= h[0] <= iv.offset]
        series = np.stack([h[3] for h in rows]) if rows else np.zeros((0, len(MEASURES)), np.float32)
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
        return {
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

    def close(self) -> None:
        self.tracker.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
