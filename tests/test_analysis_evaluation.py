"""MEGC spotting protocol, ground-truth readers, and comparison with the face rig's script."""

from __future__ import annotations

import json

import pytest

from mestudio.analysis.analyzer.errors import GroundTruthError
from mestudio.analysis.evaluation import compare_events, iou, match, read_face_script, read_lgsnet_csv, spotting_scores
from tests.analysis_fixtures import LABELS, needs_shared


def test_iou_seconds_and_inclusive_frames():
    assert iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert iou((0, 1), (2, 3)) == 0.0
    assert iou((10, 19), (10, 19), inclusive=True) == 1.0
    assert iou((10, 19), (15, 24), inclusive=True) == pytest.approx(5 / 15)


def test_iou_threshold_edge_is_inclusive():
    # IoU exactly 0.5 is a true positive (MEGC: IoU >= 0.5)
    c, _ = match([(0.0, 1.0)], [(0.0, 2.0)])
    assert (c.tp, c.fp, c.fn) == (1, 0, 0)
    c, _ = match([(0.0, 0.99)], [(0.0, 2.0)])
    assert (c.tp, c.fp, c.fn) == (0, 1, 1)


def test_each_truth_matches_once():
    c, pairs = match([(0, 10), (1, 10)], [(0, 10)])
    assert (c.tp, c.fp, c.fn) == (1, 1, 0) and pairs[0][:2] == (0, 0)


def test_f1_pooled_over_videos_and_kinds_apart():
    videos = [
        ([(0, 0.3, "micro"), (5, 7, "macro")], [(0, 0.3, "micro"), (5, 7, "macro")]),
        ([(1, 1.3, "micro")], [(1, 1.3, "macro"), (3, 3.3, "micro")]),  # kind mismatch: no TP
    ]
    s = spotting_scores(videos)
    assert (s["micro"]["tp"], s["micro"]["fp"], s["micro"]["fn"]) == (1, 1, 1)
    assert (s["macro"]["tp"], s["macro"]["fp"], s["macro"]["fn"]) == (1, 0, 1)
    # pooled, not averaged per video: micro P = R = 1/2
    assert s["micro"]["f1"] == pytest.approx(0.5)
    assert s["overall"]["tp"] == 2 and s["overall"]["f1"] == pytest.approx(4 / 7, abs=1e-4)


def test_lgsnet_csv_layout(tmp_path):
    p = tmp_path / "gt.csv"
    p.write_text(
        "subject,video,type,type_idx,startFrame,endFrame,frame_num,length\n"
        "1,v1,macro-expression,1,10,40,100,30\n1,v1,Micro,2,50,60,100,10\n2,v2,micro-expression,2,5,9,50,4\n"
    )
    gt = read_lgsnet_csv(p)
    assert [(t.start, t.end, t.kind) for t in gt["v1"]] == [(10, 40, "macro"), (50, 60, "micro")]
    assert gt["v2"][0].kind == "micro"
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(GroundTruthError, match="not an LGSNet"):
        read_lgsnet_csv(bad)


@pytest.mark.parametrize(
    "name,intervals",
    [("casme2_annotation_357.csv", 357), ("samm_annotation.csv", 499), ("cas3_annotation_full_me_reduce.csv", 2348)],
)
def test_real_label_files_read(name, intervals):
    gt = read_lgsnet_csv(needs_shared(LABELS / name))
    assert sum(len(v) for v in gt.values()) == intervals
    kinds = {t.kind for v in gt.values() for t in v}
    assert kinds == {"micro", "macro"}
    # perfect predictions score F1 = 1 under the protocol (frames inclusive)
    s = spotting_scores(
        [([(t.start, t.end, t.kind) for t in v], [(t.start, t.end, t.kind) for t in v]) for v in gt.values()],
        inclusive=True,
    )
    assert s["micro"]["f1"] == s["macro"]["f1"] == 1.0


def _script(tmp_path, events, epoch_ns=1_000_000_000):
    d = tmp_path / "ground_truth"
    d.mkdir()
    (d / "face_script.json").write_text(
        json.dumps({"version": 1, "duration_s": 60, "epoch_host_ns": epoch_ns, "events": events})
    )
    return tmp_path


def _ev(kind, aus, on, off):
    return {"kind": kind, "aus": aus, "onset_s": on, "apex_s": (on + off) / 2, "offset_s": off, "intensity": 1.0}


def test_compare_events_with_script(tmp_path):
    root = _script(
        tmp_path,
        [
            _ev("micro", [1, 2], 5.0, 5.3),
            _ev("macro", [6, 12], 10.0, 12.0),
            _ev("blink", [45], 15.0, 15.2),
            _ev("micro", [4], 20.0, 20.3),
        ],
    )
    epoch = 1.0  # seconds: analyzer times are host seconds
    pred = [
        {
            "type": "event",
            "kind": "micro",
            "onset_s": epoch + 5.02,
            "offset_s": epoch + 5.3,
            "aus": [1, 2],
            "emotion": "Surprise",
        },
        {
            "type": "event",
            "kind": "macro",
            "onset_s": epoch + 10.1,
            "offset_s": epoch + 11.9,
            "aus": [12],
            "emotion": "Positive",
        },
        {
            "type": "event",
            "kind": "blink",
            "onset_s": epoch + 15.0,
            "offset_s": epoch + 15.2,
            "aus": [45],
            "emotion": "None",
        },
        {
            "type": "event",
            "kind": "micro",
            "onset_s": epoch + 25.0,
            "offset_s": epoch + 25.2,
            "aus": [17],
            "emotion": "Repression",
        },
    ]
    r = compare_events(pred, (epoch + 0.0, epoch + 40.0), root)
    assert r["spotting"]["micro"]["tp"] == 1 and r["spotting"]["micro"]["fp"] == 1
    assert r["spotting"]["micro"]["fn"] == 1 and r["spotting"]["macro"]["f1"] == 1.0
    assert r["au"]["micro"]["f1_pooled"] == 1.0
    assert r["au"]["macro"]["per_au"]["6"]["fn"] == 1 and r["au"]["macro"]["per_au"]["12"]["tp"] == 1
    assert r["blinks_reported"] == 1 and r["emotion_accuracy"]["micro"] == 1.0
    assert "micro: F1 0.50" in r["summary"] and "macro: F1 1.00" in r["summary"]


def test_script_outside_the_analysed_span_does_not_count(tmp_path):
    root = _script(tmp_path, [_ev("micro", [1], 1.0, 1.3), _ev("micro", [1], 50.0, 50.3)], epoch_ns=0)
    r = compare_events([], (0.0, 30.0), root)
    assert r["truth"] == {"micro": 0, "macro": 0}  # 1.0 s is in the warm-up, 50 s after the end


def test_missing_script_is_a_clear_error(tmp_path):
    with pytest.raises(GroundTruthError, match="no face script"):
        read_face_script(tmp_path)
