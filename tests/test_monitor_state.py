"""How the monitor reads other stages' messages (docs/monitor.md), without a window."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.monitor.state import MonitorState
from mestudio.stream import wire

T0 = 1_000_000_000_000


def msg(topic: str, body: dict, t_s: float, kind=wire.Kind.EVENT, sid: str = "x") -> wire.Message:
    return wire.decode(wire.json_parts(kind, sid, 0, body, topic=topic, host_time_ns=T0 + int(t_s * 1e9)))


def test_scores_threshold_and_a_spotted_event_on_the_session_timeline():
    s = MonitorState(T0)
    for i in range(10):
        s.apply(msg("results/analyzer", {"score": i / 10, "threshold": 0.6}, 1.0 + i / 10))
    s.apply(
        msg(
            "results/analyzer",
            {
                "event": {
                    "label": "micro",
                    "onset_ns": T0 + int(1.2e9),
                    "offset_ns": T0 + int(1.6e9),
                    "aus": {"AU4": 0.9, "AU7": 0.7, "AU12": 0.1},
                    "emotion": {"label": "negative", "p": 0.8},
                }
            },
            2.0,
        )
    )
    t, v = s.score_window()
    assert t[0] == pytest.approx(1.0) and v[-1] == pytest.approx(0.9) and s.threshold == 0.6
    iv = s.intervals[-1]
    assert (iv.start_s, iv.end_s) == (pytest.approx(1.2), pytest.approx(1.6)) and iv.label.startswith("micro")
    assert s.aus == {"AU4": 0.9, "AU7": 0.7, "AU12": 0.1}
    assert s.emotion == "negative" and s.emotion_detail == "p = 0.80"
    log = s.take_log()
    assert any("spotted micro 1.20-1.60 s  AU4+AU7  negative" in line for line in log)
    assert s.take_log() == []


def test_event_times_in_host_seconds_and_aus_as_a_list():
    s = MonitorState(T0)
    s.apply(
        msg(
            "results/analyzer",
            {
                "onset_s": T0 / 1e9 + 3.0,
                "offset_s": T0 / 1e9 + 3.4,
                "kind": "macro",
                "aus": ["AU6", "AU12"],
                "emotion": "positive",
            },
            4.0,
        )
    )
    assert (s.intervals[-1].start_s, s.intervals[-1].end_s) == (pytest.approx(3.0), pytest.approx(3.4))
    assert s.aus == {"AU6": 1.0, "AU12": 1.0} and s.emotion == "positive"


def test_what_the_analyzer_node_publishes():
    """analysis/node.py: start, face, trace (batched scores, host seconds), gap, event."""
    s = MonitorState(T0)
    h = T0 / 1e9
    s.apply(msg("results/analyzer", {"type": "start", "stream": "face", "fps": 60, "latency_s": 0.8}, 0.1))
    s.apply(msg("results/analyzer", {"type": "face", "state": "acquired", "seq": 3, "t": h + 0.2}, 0.2))
    s.apply(
        msg(
            "results/analyzer",
            {
                "type": "trace",
                "seq": [10, 11, 12],
                "t": [h + 1.0, h + 1.1, h + 1.2],
                "score": [0.1, 0.9, 0.2],
                "quality": 0.9,
                "faces": 1,
                "threshold": 0.55,
            },
            1.3,
        )
    )
    s.apply(msg("results/analyzer", {"type": "gap", "from_seq": 20, "to_seq": 24, "missing": 5}, 1.5))
    s.apply(
        msg(
            "results/analyzer",
            {
                "type": "event",
                "kind": "micro",
                "method": "mdmd",
                "onset_seq": 60,
                "onset_s": h + 1.05,
                "apex_s": h + 1.1,
                "offset_s": h + 1.3,
                "duration_s": 0.25,
                "peak": 0.9,
                "aus": [4, 7],
                "au_strength": {"4": 0.8, "7": 0.6, "12": 0.1},
                "au_source": "landmarks",
                "emotion": "negative",
                "emotions": ["negative"],
                "emotion_rule": "AU4+AU7",
            },
            2.0,
        )
    )
    assert s.analyzer_stream == "face" and s.face_state == "tracked"
    t, v = s.score_window()
    assert t.tolist() == pytest.approx([1.0, 1.1, 1.2]) and v.tolist() == [0.1, 0.9, 0.2] and s.threshold == 0.55
    iv = s.intervals[-1]
    assert (iv.start_s, iv.end_s) == (pytest.approx(1.05), pytest.approx(1.3))
    assert s.aus == {"AU4": 0.8, "AU7": 0.6, "AU12": 0.1} and s.emotion == "negative"
    log = "\n".join(s.take_log())
    assert "analyzer started on face" in log and "face acquired" in log
    assert "analyzer missed 5 frames (seq 20-24)" in log and "spotted micro 1.05-1.30 s  AU4+AU7  negative" in log
    s.apply(msg("results/analyzer", {"type": "face", "state": "lost", "seq": 90, "t": h + 3}, 3.0))
    assert s.face_state == "lost"


def test_landmarks_and_rois_for_the_face_camera():
    s = MonitorState(T0)
    lm = np.random.default_rng(0).uniform(0, 400, (478, 3))
    s.apply(
        msg(
            "results/analyzer",
            {
                "stream_id": "face",
                "seq": 7,
                "landmarks": lm.tolist(),
                "rois": [[10, 20, 30, 40]],
                "face_box": [1, 2, 3, 4],
            },
            1.0,
            sid="analyzer",
        )
    )
    f = s.faces["face"]
    assert f.landmarks.shape == (478, 2) and np.allclose(f.landmarks, lm[:, :2])
    assert f.rois == {"0": (10, 20, 30, 40), "face": (1, 2, 3, 4)} and f.seq == 7


def test_sync_health_in_any_unit():
    s = MonitorState(T0)
    s.apply(
        msg(
            "sync/health",
            {
                "streams": {"face": {"offset_ns": 1_500_000, "drift_ppm": 20, "jitter_us": 250}},
                "warnings": ["kinect drifts 300 ppm"],
            },
            1.0,
        )
    )
    s.apply(msg("sync/health", {"stream_id": "mic", "offset_s": -0.002, "jitter_ms": 0.1}, 1.0))
    assert s.sync["face"].offset_ms == pytest.approx(1.5) and s.sync["face"].drift_ppm == 20
    assert s.sync["face"].jitter_ms == pytest.approx(0.25)
    assert s.sync["mic"].offset_ms == pytest.approx(-2.0) and s.sync["mic"].drift_ppm is None
    assert any("kinect drifts" in line for line in s.take_log())


def test_protocol_state_and_markers():
    s = MonitorState(T0)
    assert s.elicit_text() == "no protocol running"
    s.apply(msg("markers/elicit", {"event": "clip_onset", "clip": "fear-03"}, 1.0))
    s.apply(
        msg(
            "state/elicit",
            {"state": "clip", "clip": "fear-03", "step": 4, "steps": 11, "position_s": 12.4, "paused": True},
            2.0,
        )
    )
    assert s.elicit_text() == "clip  ·  fear-03 (5/11)  ·  12 s in  ·  PAUSED" and s.protocol_paused
    s.apply(msg("state/elicit", {"state": "break", "step": 5, "steps": 11, "break_left_s": 41.6, "paused": False}, 3.0))
    assert s.elicit_text() == "break  ·  (6/11)  ·  42 s left" and not s.protocol_paused
    assert any("clip_onset fear-03" in line for line in s.take_log())


def test_operator_marks_end_of_streams_and_session_stop():
    s = MonitorState(T0)
    s.apply(msg("command/mark", {"command": "mark", "from": "monitor-1", "host_time_ns": T0 + int(5e9)}, 5.1))
    s.apply(msg("end/face", {"frames": 300, "device_dropped": 2}, 6.0, kind=wire.Kind.END, sid="face"))
    s.apply(msg("session/stop", {"problems": []}, 7.0))
    assert s.marks[-1] == (pytest.approx(5.0), "mark")
    assert s.ended["face"]["frames"] == 300 and s.session_stopped
    log = "\n".join(s.take_log())
    assert "operator: mark from monitor-1" in log and "face ended after 300 frames, 2 lost at the source" in log


def test_an_unreadable_message_is_counted_and_logged_once():
    s = MonitorState(T0)
    for _ in range(3):
        s.apply(msg("results/analyzer", {"landmarks": "not points"}, 1.0))
    assert s.unreadable == 3
    assert len([line for line in s.take_log() if "could not read" in line]) == 1
    s.apply(msg("results/analyzer", {"score": 0.5}, 1.1))  # still reading what it can
    assert len(s.score) == 1


def test_time_origin_defaults_to_the_first_message():
    s = MonitorState(None)
    s.apply(msg("results/analyzer", {"score": 0.1}, 10.0))
    s.apply(msg("results/analyzer", {"score": 0.2}, 12.5))
    assert [t for t, _ in s.score] == [0.0, pytest.approx(2.5)]


def test_the_protocol_line_reads_the_fields_the_controller_sends():
    from mestudio.stream import messages

    s = MonitorState(T0)
    body = messages.ElicitState(state="break", step=1, steps=3, break_left_s=9.6, paused=False).to_wire()
    s.apply(msg(messages.STATE_ELICIT, body, 1.0))
    assert s.elicit_text() == "break  ·  (2/3)  ·  10 s left"
    # fields no producer sends are not guessed at: a body without the model's fields is unreadable
    s.apply(msg(messages.STATE_ELICIT, {"state": "break", "index": 1, "total": 3, "remaining_s": 5}, 2.0))
    assert s.unreadable == 1 and s.elicit_text() == "break  ·  (2/3)  ·  10 s left"
