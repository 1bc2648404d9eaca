"""`mestudio export --what elan` and `mestudio import-annotations`: pympi reads the .eaf we write,
a coder's tier added with pympi comes back as labels on the session timeline, and the labels cut
clips the way training reads them."""

from __future__ import annotations

import json

import pytest

from mestudio.analysis.datasets.sessions import intervals_from_events, session_clips
from mestudio.interop.elan import read_labels
from tests.conftest import mestudio
from tests.interop_session import FACE_PERIOD, FACE_START, T0, build_session

pympi = pytest.importorskip("pympi")


@pytest.fixture
def eaf(tmp_path):
    b = build_session(tmp_path / "S")
    out = tmp_path / "x"
    r = mestudio("export", str(b.root), "--what", "elan", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    path = out / "S.eaf"
    assert json.loads(r.stdout)["written"]["elan"][0] == str(path)
    return b, path


def ms(host_ns: int) -> int:
    return round((host_ns - FACE_START) / 1e6)  # ELAN's 0 is the frontal video's first frame


def test_pympi_reads_the_tiers_over_the_linked_frontal_video(eaf):
    b, path = eaf
    e = pympi.Elan.Eaf(str(path))
    linked = e.get_linked_files()
    assert len(linked) == 1 and linked[0]["RELATIVE_MEDIA_URL"] == "face.mkv"
    assert (path.parent / "face.mkv").is_file() and linked[0]["MIME_TYPE"] == "video/x-matroska"
    assert {"spotted-kind", "spotted-AUs", "spotted-emotion", "protocol", "operator", "clips"} <= set(
        e.get_tier_names()
    )
    on, off = ms(FACE_START + 5 * FACE_PERIOD), ms(FACE_START + 12 * FACE_PERIOD)
    assert e.get_annotation_data_for_tier("spotted-kind") == [(on, off, "micro")]
    assert e.get_annotation_data_for_tier("spotted-AUs") == [(on, off, "AU1+AU2")]
    assert e.get_annotation_data_for_tier("spotted-emotion") == [(on, off, "Surprise")]
    assert e.get_annotation_data_for_tier("protocol") == [(50, 550, "clip c01")]
    assert e.get_annotation_data_for_tier("operator") == [(300, 400, "participant moved")]


def test_a_coders_tier_comes_back_as_labels_that_cut_clips(eaf, tmp_path):
    b, path = eaf
    e = pympi.Elan.Eaf(str(path))
    e.add_tier("coder1")
    e.add_annotation(
        "coder1", ms(FACE_START + 20 * FACE_PERIOD), ms(FACE_START + 30 * FACE_PERIOD), "macro AU12 Positive"
    )
    coded = tmp_path / "coded.eaf"
    e.to_file(str(coded))
    r = mestudio("import-annotations", str(b.root), str(coded), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["types"] == {"annotation": 2, "note": 2}
    labels = read_labels(b.root)
    me = [x["body"] for x in labels if x["body"]["type"] == "annotation"]
    spotted = next(x for x in me if x["tier"] == "spotted-kind")
    assert spotted["kind"] == "micro" and spotted["aus"] == [1, 2] and spotted["emotions"] == ["Surprise"]
    # back on the session timeline (seconds from t0), to the millisecond ELAN keeps
    assert abs(spotted["onset_s"] - (FACE_START + 5 * FACE_PERIOD - T0) / 1e9) <= 0.001
    coder = next(x for x in me if x["tier"] == "coder1")
    assert coder["kind"] == "macro" and coder["aus"] == [12] and coder["emotions"] == ["Positive"]
    ivs = intervals_from_events(labels, types=("annotation",), kinds=("micro", "macro"))
    book, clips = session_clips(b.root, "face", ivs)
    # the spotted interval: frames 5..12 (seq), positions 5..12 (the gap is at 17-18)
    assert [(s.onset, s.offset) for s in book] == [(5, 12), (18, 28)]
    assert clips[0].shape[0] == 8


def test_a_bad_eaf_is_a_one_line_error(tmp_path, eaf):
    b, _ = eaf
    bad = tmp_path / "bad.eaf"
    bad.write_text("<ANNOTATION_DOCUMENT><TIME_ORDER>")
    r = mestudio("import-annotations", str(b.root), str(bad))
    assert r.returncode == 2 and "not a readable ELAN file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = mestudio("import-annotations", str(b.root), str(tmp_path / "none.eaf"))
    assert r.returncode == 2 and "no such .eaf file" in r.stderr


def test_label_book_clips_get_their_tier(tmp_path):
    b = build_session(tmp_path / "S")
    out = tmp_path / "x"
    r = mestudio("export", str(b.root), "--what", "clips,elan", "--out", str(out))
    assert r.returncode == 0, r.stderr
    clips = pympi.Elan.Eaf(str(out / "S.eaf")).get_annotation_data_for_tier("clips")
    # the label book's clip: frames 5..12 of the face camera, to the end of its last frame
    assert clips == [
        (ms(FACE_START + 5 * FACE_PERIOD), ms(FACE_START + 13 * FACE_PERIOD), "face_001: 1+2 Surprise micro")
    ]
