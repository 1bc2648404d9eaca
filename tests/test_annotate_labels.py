"""The labels of several annotators without the window: the append-only file, the study's merge
(median frames, majority AUs, Table 4), the agreement figures against sklearn and a published
example, and the label book read back by the dataset reader and the training loader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mestudio.annotate.agreement import cohen_kappa, fleiss_kappa
from mestudio.annotate.errors import AnnotatorNameError, LabelsConflictError, LabelsFileError, MarkError
from mestudio.annotate.labels import LabelsFile, check_annotator, parse_au_text, read_annotators
from mestudio.annotate.media import open_source
from mestudio.annotate.state import AnnotationState
from tests.annotate_session import CANDIDATES, PERIOD, build
from tests.conftest import mestudio

# three annotators' frames (onset, apex, offset) of one expression, and their AUs
THREE = {
    "ann1": ((40, 45, 60), "1B+2B+12(k)"),
    "ann2": ((41, 46, 62), "1C+2B"),
    "ann3": ((44, 47, 58), "1A+2A+5A+R12A"),
}


@pytest.fixture
def session(tmp_path):
    return build(tmp_path / "S")


def annotate(source, name: str, frames: tuple[int, int, int], aus: str) -> AnnotationState:
    st = AnnotationState(source, name)
    for phase, n in zip(("onset", "apex", "offset"), frames):
        st.goto_number(n)
        st.mark(phase)
    st.commit()
    st.set_aus(aus)
    return st


def test_every_change_is_kept_with_its_time_and_replayed_on_reopening(session):
    src = open_source(session)
    st = annotate(src, "ann1", (40, 45, 60), "1B+2B")
    st.goto_number(42)
    st.mark("onset")  # adjust the selected clip
    st.set_note("blink right after")
    st.delete_selected()
    doc = json.loads((session / "labels" / "ann1.json").read_text())
    ops = [(c["op"], c.get("fields")) for c in doc["changes"]]
    assert [o for o, _ in ops] == ["add", "set", "set", "set", "delete"]
    assert ops[0][1] == {"onset": 40, "apex": 45, "offset": 60}
    assert ops[2][1] == {"onset": 42}
    assert all(c["time"].endswith("Z") and c["time_ns"] > 0 for c in doc["changes"])
    assert [c["n"] for c in doc["changes"]] == list(range(5))
    again = LabelsFile(session / "labels", "ann1", src.describe())
    assert again.labels.clips == {} and len(again.changes) == 5  # deleted, and its history kept
    st2 = AnnotationState(src, "ann1")
    assert st2.file.next_clip_id() == "c2"  # ids are never reused


def test_a_second_window_for_the_same_annotator_cannot_overwrite_the_first(session):
    src = open_source(session)
    a, b = AnnotationState(src, "ann1"), AnnotationState(src, "ann1")
    a.goto_number(10)
    a.mark("onset")
    a.goto_number(20)
    a.mark("offset")
    a.commit()
    b.goto_number(30)
    b.mark("onset")
    b.goto_number(40)
    b.mark("offset")
    with pytest.raises(LabelsConflictError, match="changed on disk"):
        b.commit()
    assert len(LabelsFile(session / "labels", "ann1", {}).changes) == 1


def test_bad_labels_files_and_marks_are_clear_errors_and_lose_nothing(session):
    folder = session / "labels"
    folder.mkdir()
    (folder / "ann9.json").write_bytes(b"\x00garbage")
    with pytest.raises(LabelsFileError, match="ann9.json: not a labels file"):
        read_annotators(folder)
    (folder / "ann9.json").unlink()
    doc = {
        "format": "mestudio-labels",
        "version": 1,
        "annotator": "ann4",
        "source": {"stream": "face"},
        "changes": [
            {"op": "add", "clip": "c1", "fields": {"onset": 5, "offset": 9}},
            {"op": "add", "clip": "c2", "fields": {"onset": 30, "offset": 20}},  # offset before onset
            {"op": "teleport", "clip": "c1"},
            "not a change",
        ],
    }
    (folder / "ann4.json").write_text(json.dumps(doc))
    (_, labels) = read_annotators(folder)["ann4"]
    assert list(labels.clips) == ["c1"] and len(labels.bad_changes) == 3
    assert "change 1" in labels.bad_changes[0] and "not in order" in labels.bad_changes[0]
    r = mestudio("labels", "merge", str(session), "--no-plot", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["bad_changes"]) == 3  # counted and reported, the good clip kept
    r = mestudio("labels", "show", str(session), "--json")
    shown = json.loads(r.stdout)["annotators"]["ann4"]
    assert r.returncode == 0 and shown["changes"] == 4 and len(shown["bad_changes"]) == 3
    assert [c["clip"] for c in shown["clips"]] == ["c1"]
    st = AnnotationState(open_source(session), "ann5")
    with pytest.raises(MarkError, match="no clip selected"):
        st.set_aus("12")
    st.goto_number(30)
    st.mark("onset")
    st.goto_number(20)
    st.mark("offset")
    with pytest.raises(MarkError, match="before onset"):
        st.commit()
    with pytest.raises(MarkError, match="'12Z' is not an AU"):
        parse_au_text("4+12Z")
    with pytest.raises(AnnotatorNameError):
        check_annotator("../evil")
    with pytest.raises(AnnotatorNameError, match="reserved"):
        check_annotator("consensus")
    r = mestudio("labels", "merge", str(session / "nothing"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such session" in r.stderr


def test_au_codes_keep_side_intensity_and_static():
    assert [str(a) for a in parse_au_text("1B+2B+L12A+14(k)")] == ["1B", "2B", "L12A", "14(k)"]
    a = parse_au_text("R12B(k)")[0]
    assert (a.number, a.side, a.intensity, a.static) == (12, "R", "B", True)


def test_kappas_match_sklearn_and_fleiss_published_example():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    for _ in range(5):
        a, b = rng.integers(0, 3, 40).tolist(), rng.integers(0, 3, 40).tolist()
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa([1, 1, 1], [1, 1, 1]) is None  # undefined, not 1 or nan
    # Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 items, 14 raters, 5 classes: 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    ratings = [[c for c, k in enumerate(row) for _ in range(k)] for row in table]
    assert fleiss_kappa(ratings) == pytest.approx(0.210, abs=5e-4)


def test_three_annotators_merge_into_the_studys_label_book(session):
    from mestudio.analysis.datasets.readers import read_label_book
    from mestudio.analysis.training.sources import Source, load_source

    src = open_source(session)
    for name, (frames, aus) in THREE.items():
        st = annotate(src, name, frames, aus)
        st.goto(0)
        assert st.next_candidate() is not None and st.candidate == 0
        if name == "ann3":
            st.reject_candidate()
        else:
            st.accept_candidate()
            st.goto_number(22)
            st.mark("onset")  # adjusted from the spotter's 20
    st.select("c1")
    st.override_emotion("Negative", "lip press seen, AU12 is a misread AU14")
    r = mestudio("labels", "merge", str(session), "--json", "--elan")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    book_path = session / "labels" / "consensus" / "clips" / "labelbook.csv"
    assert out["written"]["label_book"] == str(book_path)
    book = read_label_book(book_path, "4dme")  # the dataset reader train/evaluate use
    assert [s.clip for s in book] == ["face_001", "face_002"]
    cand, mine = book
    # the candidate: accepted and adjusted by two of three (ann3 rejected it): their median
    assert (cand.onset, cand.apex, cand.offset) == (22, 25, 32)
    assert [str(a) for a in cand.aus] == ["12"] and cand.emotions == ("Positive",) and cand.kind == "micro"
    # medians of (40, 41, 44), (45, 46, 47), (60, 62, 58); AU5 by one of three is out, AU12 by two is in;
    # ann3's override is one of three, so Table 4 decides: AU1+2 Surprise, AU12 Positive
    assert (mine.onset, mine.apex, mine.offset) == (41, 46, 60)
    assert [a.number for a in mine.aus] == [1, 2, 12]
    assert [a.intensity for a in mine.aus] == ["B", "B", "A"]
    assert mine.emotions == ("Positive", "Surprise") and mine.kind == "micro"
    clip = out["clips"][1]
    assert clip["emotion_rule"] == "table" and clip["duration_s"] == pytest.approx((60 - 41) * PERIOD / 1e9, abs=1e-4)
    assert set(clip["members"]) == {"ann1", "ann2", "ann3"}
    rep = out["agreement"]
    assert rep["frames"]["onset"]["frames"]["max"] == 4  # 40 vs 44
    assert rep["frames"]["onset"]["ms"]["max"] == pytest.approx(4 * PERIOD / 1e6, abs=0.01)
    assert rep["aus"]["AU1"]["fleiss"] is None and rep["aus"]["AU1"]["agreement"] == 1.0  # all agree, one class
    assert rep["aus"]["AU5"]["marked"] == 1
    assert rep["clips_per_annotator"] == {"ann1": 2, "ann2": 2, "ann3": 1}
    # the clips the training loader cuts from the book: frames 22-32 and 41-60 less the lost 50-51
    _, clips, missing = load_source(Source(dataset="4dme", labels=str(book_path), clips=str(book_path.parent)))
    assert [c.shape for c in clips] == [(11, 48, 64), (18, 48, 64)] and not missing
    assert (session / "labels" / "consensus" / "agreement.png").stat().st_size > 1000
    pympi = pytest.importorskip("pympi")
    eaf = pympi.Elan.Eaf(out["written"]["elan"])
    tier = eaf.get_annotation_data_for_tier("clips")
    assert [v for _, _, v in tier] == ["face_001: 12 Positive micro", "face_002: 1B+2B+12A Positive+Surprise micro"]
    assert tier[1][0] == round((41 * PERIOD) / 1e6)  # ELAN's 0 is the face video's first frame (seq 0)
    assert eaf.get_annotation_data_for_tier("consensus") == [
        (a, z, v) for (a, z, _), v in zip(tier, ["micro AU12 Positive", "micro AU1B+AU2B+AU12A Positive+Surprise"])
    ]
    ann3 = eaf.get_annotation_data_for_tier("annotator-ann3")  # ann3 rejected the candidate: one clip
    assert ann3 == [(round(44 * PERIOD / 1e6), round(59 * PERIOD / 1e6), "micro AU1A+AU2A+AU5A+AU12A(R) Negative")]
    # the consensus tier comes back through the ELAN import as labels on the session's timeline
    r = mestudio("import-annotations", str(session), out["written"]["elan"], "--json")
    assert r.returncode == 0, r.stderr
    from mestudio.interop.elan import read_labels

    back = [x["body"] for x in read_labels(session) if x["body"].get("tier") == "consensus"]
    assert [(b["kind"], b["aus"]) for b in back] == [("micro", [12]), ("micro", [1, 2, 12])]
    # the clip export cuts the consensus when the session has one (the analyzer's events on request)
    r = mestudio("export", str(session), "--what", "clips", "--out", str(session.parent / "x"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written"]["clips"][1] == "2 clips (the annotators' consensus)"
    assert (session.parent / "x" / "clips" / "labelbook.csv").read_text() == book_path.read_text()
    r = mestudio(
        "export", str(session), "--what", "clips", "--clips-from", "spotted", "--out", str(session.parent / "y")
    )
    assert r.returncode == 0, r.stderr
    spotted = read_label_book(session.parent / "y" / "clips" / "labelbook.csv", "4dme")
    assert [(s.onset, s.offset) for s in spotted] == [(c["onset_seq"], c["offset_seq"]) for c in CANDIDATES]


def test_a_majority_override_replaces_table4_with_its_reasons(session):
    src = open_source(session)
    for name in ("ann1", "ann2"):
        st = annotate(src, name, (100, 105, 110), "12")
        st.override_emotion("Repression", f"{name}: the smile is held back")
    st = annotate(src, "ann3", (101, 104, 112), "12+14")
    r = mestudio("labels", "merge", str(session), "--json", "--no-plot")
    assert r.returncode == 0, r.stderr
    (clip,) = json.loads(r.stdout)["clips"]
    assert clip["emotion"] == "Repression" and clip["emotion_rule"] == "override"
    assert clip["override_reasons"] == ["ann1: ann1: the smile is held back", "ann2: ann2: the smile is held back"]
    assert clip["aus"] == "12" and clip["kind"] == "micro"


@pytest.mark.parametrize("device_times", [True, False])
def test_durations_and_differences_are_on_the_cameras_clock_not_the_arrival_jitter(tmp_path, device_times):
    session = build(tmp_path / "S", jitter_ns=40_000_000, device_times=device_times)
    src = open_source(session)
    st = annotate(src, "ann1", (40, 45, 69), "12")
    # 29 frames at 60 fps (lost frames 50-51 included): 483 ms, micro, whatever the arrival times say
    assert st.view("c1").duration_s == pytest.approx(29 / 60, abs=1e-6) and st.view("c1").kind == "micro"
    annotate(src, "ann2", (42, 45, 70), "12")
    from mestudio.annotate.agreement import agreement
    from mestudio.annotate.book import merge_labels

    rep = agreement(merge_labels(src), src)
    assert rep["frames"]["onset"]["ms"]["max"] == pytest.approx(2 / 60 * 1e3, abs=0.01)
