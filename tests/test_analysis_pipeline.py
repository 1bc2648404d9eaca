"""The per-frame analyzer end to end: synthetic face sessions and the real clips in ../shared."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mestudio.analysis.analyzer.offline import analyze_session, compare_live
from mestudio.analysis.analyzer.pipeline import Analyzer
from mestudio.analysis.settings import AnalyzerSettings
from mestudio.stream.session import FORMAT
from mestudio.stream.session_writer import SessionWriter
from tests.analysis_fixtures import VIDEOS, face_frames, needs_shared, read_video_gray
from tests.conftest import mestudio

FPS = 60.0
# a surprise micro-expression, then a smile macro-expression, on the synthetic face
# (the macro scale, k = 1 s, is warm after about 4 s)
SCRIPT = (("micro", (1, 2), 2.0, 2.15, 2.35, 0.9), ("macro", (6, 12), 5.0, 5.5, 6.4, 1.0))


def run_analyzer(frames, fps=FPS, **settings) -> list[dict]:
    out = []
    with Analyzer(AnalyzerSettings(**settings), fps) as a:
        for i, f in enumerate(frames):
            out += a.process(f, i, i / fps)
        out += a.finish()
    return out


def events(messages):
    return [m for m in messages if m["type"] == "event"]


def streamed(report_events):
    """The offline report's events as the analyzer sent them: the report adds each event's
    1-based position in the recording (``*_frame``), which a stream of seqs cannot know."""
    for e in report_events:  # this recording numbers its frames from seq 0
        assert [e[f"{k}_frame"] for k in ("onset", "apex", "offset")] == [
            e[f"{k}_seq"] + 1 for k in ("onset", "apex", "offset")
        ]
    return [{k: v for k, v in e.items() if not k.endswith("_frame")} for e in report_events]


@pytest.fixture(scope="module")
def scripted():
    frames = face_frames(SCRIPT, seconds=7.5)
    return frames, run_analyzer(frames)


@pytest.mark.slow
def test_scripted_micro_and_macro_are_spotted_with_aus_and_emotion(scripted):
    _, msgs = scripted
    evs = events(msgs)
    micro = [e for e in evs if e["kind"] == "micro"]
    macro = [e for e in evs if e["kind"] == "macro"]
    assert len(micro) == 1 and len(macro) == 1, evs
    assert 1.9 <= micro[0]["onset_s"] <= 2.15 and 2.15 <= micro[0]["offset_s"] <= 2.5
    assert micro[0]["aus"] == [1, 2] and micro[0]["emotion"] == "Surprise"
    assert macro[0]["onset_s"] < 5.5 < macro[0]["offset_s"] and 12 in macro[0]["aus"]
    assert macro[0]["emotion"] == "Positive"
    face = [m for m in msgs if m["type"] == "face"]
    assert face == [{"type": "face", "state": "acquired", "seq": 0, "t": 0.0}]


@pytest.mark.slow
def test_traces_cover_every_scored_frame_once(scripted):
    frames, msgs = scripted
    seqs = [s for m in msgs if m["type"] == "trace" for s in m["seq"]]
    # micro scale, k = 12: frame j is scored once frame j + k is in, so frames k .. N-1-k
    assert seqs == list(range(12, len(frames) - 12))
    q = [m["quality"] for m in msgs if m["type"] == "trace"]
    assert min(q) > 0.5


def _write_session(root, frames, fps=FPS, seqs=None):
    root.mkdir()
    (root / "manifest.json").write_text(
        json.dumps(
            {
                "format": FORMAT,
                "devices": [{"name": "face", "kind": "synthetic-camera", "fps": fps}],
                "config": {"analyzer": {"enabled": True}},
            }
        )
    )
    w = SessionWriter(root)
    s = w.stream("face", "|u1", frames.shape[1:], "mono8")
    for i, f in enumerate(frames):
        seq = i if seqs is None else seqs[i]
        s.append(seq, None, int(seq * 1e9 / fps), f.tobytes())
    w.close()
    return root


@pytest.mark.slow
def test_offline_analysis_of_a_recording_equals_the_streamed_run(scripted, tmp_path):
    frames, msgs = scripted
    root = _write_session(tmp_path / "s", frames)
    rep = analyze_session(root)
    assert rep["frames"] == len(frames) and rep["frames_with_face"] == len(frames)
    assert streamed(rep["events"]) == events(msgs)  # same code, same frames, same times: same events
    assert compare_live(rep["events"], msgs)["identical"]
    assert rep["speed_x_realtime"] > 0


@pytest.mark.slow
def test_analyze_command_json(scripted, tmp_path):
    frames, msgs = scripted
    root = _write_session(tmp_path / "s", frames)
    r = mestudio("analyze", str(root), "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert streamed(rep["events"]) == events(msgs) and rep["recording_gaps"] == 0
    assert rep["au_frames"] == len(frames)  # a row of per-frame AUs for every frame
    assert rep["fusion"] == {"mode": "off", "weak_candidates": 0, "confirmed": 0}  # off by default
    r = mestudio("analyze", str(root), "--json", "--fusion", "au", timeout=120)
    fu = json.loads(r.stdout)["fusion"]  # on: its candidates counted
    assert r.returncode == 0 and fu["mode"] == "au" and 0 <= fu["confirmed"] <= fu["weak_candidates"]


@pytest.mark.slow
def test_a_sessions_analyzer_csvs_put_its_events_on_the_annotate_timeline(scripted, tmp_path):
    """`mestudio analyze SESSION --events-csv E --au-csv A` for a session recorded without the live
    analyzer, then `mestudio annotate SESSION --events-csv E --au-csv A`: the candidates sit at
    the events' own sequence numbers and the AU traces cover every recorded frame, on a recording
    that numbers its frames from 1000 and lost two of them (1-based positions are not seqs)."""
    from mestudio.annotate.media import open_source
    from mestudio.annotate.timeline import add_analyzer_csvs, build_timeline

    frames, _ = scripted
    seqs = [1000 + i for i in range(len(frames) + 2) if i not in (5, 6)]
    root = _write_session(tmp_path / "s", frames, seqs=seqs)
    ev_csv, au_csv = tmp_path / "events.csv", tmp_path / "aus.csv"
    r = mestudio("analyze", str(root), "--json", "--events-csv", str(ev_csv), "--au-csv", str(au_csv), timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    spotted = [e for e in rep["events"] if e["kind"] in ("micro", "macro")]
    assert spotted and rep["recording_gaps"] == 2  # frames missing
    src = open_source(root)
    assert build_timeline(src).candidates == []  # the live analyzer was off: the CSVs are all there is
    tl = add_analyzer_csvs(build_timeline(src), src, str(ev_csv), str(au_csv))
    got = [(c.kind, c.onset, c.apex, c.offset, c.aus) for c in tl.candidates]
    want = [(e["kind"], e["onset_seq"], e["apex_seq"], e["offset_seq"], tuple(e["aus"])) for e in spotted]
    assert got == want and tl.unreadable == 0
    assert tl.au_pos.tolist() == list(range(len(frames)))  # one AU row per recorded frame
    assert set(tl.au) >= {"AU12", "AU04"}


def test_analyze_command_errors_are_one_line(tmp_path):
    r = mestudio("analyze", str(tmp_path))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("mestudio analyze:")]
    assert len(lines) == 1 and "manifest.json" in lines[0]


def test_no_face_means_no_events_and_a_lost_face_is_reported():
    frames = face_frames(seconds=1.0)
    blank = np.full_like(frames[0], 90)
    seq = list(frames[:30]) + [blank] * 10 + list(frames[30:40])
    msgs = run_analyzer(seq)
    states = [m["state"] for m in msgs if m["type"] == "face"]
    assert states == ["acquired", "lost", "reacquired"]
    assert events(msgs) == []


def test_smile_onset_on_the_real_clip():
    frames, fps = read_video_gray(needs_shared(VIDEOS / "pyfeat_single_face.mp4"))
    # a 2.4 s clip: the spotter may learn the neutral face for 0.3 s only
    evs = events(run_analyzer(frames, fps, warmup_s=0.3))
    assert len(evs) >= 1
    smile = evs[0]
    # neutral, then a smile from about frame 24; the lips start to move a little earlier (the
    # score rises from frame 17), and intervals are widened by 50 ms: onset within 0.4 s
    assert 12 <= smile["onset_seq"] <= 30 and 24 <= smile["apex_seq"] <= 36
    assert 12 in smile["aus"]


@pytest.mark.slow
def test_false_positive_rate_on_the_neutral_talking_clip(capsys):
    frames, fps = read_video_gray(needs_shared(VIDEOS / "openface_neutral_talk.avi"))
    with Analyzer(AnalyzerSettings(), fps) as a:
        msgs = []
        for i, f in enumerate(frames):
            msgs += a.process(f, i, i / fps)
        msgs += a.finish()
        with_face = a.frames_with_face
    assert with_face >= 0.95 * len(frames)
    evs = [e for e in events(msgs) if e["kind"] in ("micro", "macro")]
    minutes = len(frames) / fps / 60
    rate = len(evs) / minutes
    with capsys.disabled():
        print(
            f"\nneutral talking clip: {len(evs)} spotted in {minutes * 60:.1f} s = {rate:.1f} false positives/min "
            f"(speech moves the mouth; every spot counts as false here)"
        )
    assert rate < 30


def test_traces_tell_the_monitor_where_the_face_and_its_au_regions_are(scripted):
    from mestudio.monitor.state import MonitorState
    from mestudio.stream import wire

    frames, msgs = scripted
    traces = [m for m in msgs if m["type"] == "trace" and "landmarks" in m]
    assert traces and all(m["stream_id"] == "face" for m in traces)
    t = traces[len(traces) // 2]
    lm = np.asarray(t["landmarks"])
    h, w = frames.shape[1:3]
    assert len(lm) == 120 and (lm[:, 0] > 0).all() and (lm[:, 0] < w).all() and (lm[:, 1] < h).all()
    r = t["rois"]
    assert r["brow_r"][1] < r["eye_r"][1] < r["mouth"][1]  # brows above eyes above the mouth
    assert r["eye_r"][0] < r["eye_l"][0]  # the participant's right eye is on the image's left
    # the monitor puts them on the face camera's tile
    s = MonitorState()
    s.apply(wire.decode(wire.json_parts(wire.Kind.EVENT, "analyzer", 1, t, topic="results/analyzer")))
    assert s.faces["face"].landmarks.shape == (120, 2) and set(s.faces["face"].rois) == set(r)
