"""The annotation window as a real Qt window (offscreen), driven by key events: three annotators mark
one expression at different frames and work the spotter's candidate, the merge gives the study's
label book, and a screenshot shows the frame that is on and the marked clip on the timeline."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mestudio.annotate.media import open_source
from mestudio.annotate.state import AnnotationState
from tests.annotate_session import build, frame
from tests.conftest import mestudio

pytest.importorskip("pyqtgraph")
pytestmark = pytest.mark.gui

# what each annotator marks: (onset, apex, offset) frame numbers, AUs, and what they do with candidate 0
PLAN = {
    "ann1": ((40, 45, 60), "1B+2B+12(k)", "accept"),
    "ann2": ((42, 46, 61), "1C+2B+12A", "accept"),
    "ann3": ((44, 48, 57), "1B+2A+5A", "reject"),
}


@pytest.fixture(scope="module")
def app():
    from mestudio.annotate.qt import application

    return application()


@pytest.fixture
def session(tmp_path):
    return build(tmp_path / "S")


def keys(w, *seq):
    from PySide6.QtTest import QTest

    from mestudio.annotate.qt import QtCore

    for k in seq:
        if isinstance(k, str) and len(k) > 1:
            QTest.keyClicks(w, k)
        elif isinstance(k, str):
            QTest.keyClick(w, k)
        else:
            QTest.keyClick(w, k, QtCore.Qt.KeyboardModifier.NoModifier)


def type_into(edit, text: str) -> None:
    from PySide6.QtTest import QTest

    from mestudio.annotate.qt import QtCore

    edit.setFocus()
    edit.clear()
    QTest.keyClicks(edit, text)
    QTest.keyClick(edit, QtCore.Qt.Key.Key_Return)


def green_pixels(img: np.ndarray) -> int:
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((g > r + 40) & (g > b + 10)).sum())


def square_left(img: np.ndarray) -> int:
    """The first column of the frame's bright square (it moves one pixel a frame)."""
    return int(np.flatnonzero((img[19:27] >= 200).all(axis=0))[0])


def shot(w, path) -> np.ndarray:
    from tests.monitor_fixtures import read_png

    w.save_screenshot(path)
    return read_png(path)


def shown_frame(img: np.ndarray, w) -> np.ndarray:
    """The main frame as the screenshot shows it, back at the frame's own size (gray)."""
    from mestudio.annotate.qt import QtCore

    rect = w.image.sceneBoundingRect()
    view = w.frames_view
    p = view.mapTo(w, QtCore.QPoint(int(round(rect.x())), int(round(rect.y()))))
    crop = img[p.y() : p.y() + int(rect.height()), p.x() : p.x() + int(rect.width())]
    small = cv2.resize(crop.astype(np.float32), (frame(0).shape[1], frame(0).shape[0]), interpolation=cv2.INTER_AREA)
    return small.mean(axis=2)


@pytest.mark.slow
def test_three_annotators_in_the_window_then_the_merge(app, session, tmp_path):
    from mestudio.analysis.datasets.readers import read_label_book
    from mestudio.annotate.qt import QtCore, shutdown
    from mestudio.annotate.window import AnnotateWindow
    from tests.monitor_fixtures import region

    Key = QtCore.Qt.Key
    for name, ((on, ap, off), aus, decision) in PLAN.items():
        st = AnnotationState(open_source(session), name)
        w = AnnotateWindow(st)
        w.show()
        app.processEvents()
        keys(w, str(on), Key.Key_Return)  # type a frame number, Enter: go there
        assert st.number == on
        w.seek_to_x(on - 9.6)  # a click on the timeline: the frame under it
        assert st.number == on - 10
        keys(w, str(on), Key.Key_Return)
        if name == "ann1":
            before = shot(w, tmp_path / "before.png")
            assert green_pixels(region(before, w, w.timeline)) == 0  # no clip yet
        keys(w, Key.Key_I)
        for _ in range(ap - on):
            keys(w, Key.Key_Right)  # frame by frame
        assert st.number == ap
        keys(w, Key.Key_A, str(off), Key.Key_Return, Key.Key_O, Key.Key_Return)  # go to offset, mark, commit
        assert st.selected == "c1" and st.draft == {}
        keys(w, Key.Key_U)
        type_into(w.au_edit, aus)
        if name == "ann1":
            type_into(w.major_edit, "1")
        if name == "ann3":  # one of three overrides: Table 4 still decides the consensus
            w.override.setCurrentText("Negative")
            type_into(w.reason_edit, "brow lowering looked real")
            assert "overridden" in w.table4.text()
        keys(w, Key.Key_Escape, Key.Key_Home, Key.Key_N)  # to the first open candidate
        assert st.candidate == 0 and st.number == 20
        keys(w, Key.Key_Y if decision == "accept" else Key.Key_X)
        if decision == "accept":
            keys(w, "23", Key.Key_Return, Key.Key_I)  # adjust its onset to frame 23
            assert st.clips["c2"].onset == 23
        # playback: L plays at 1x, each tick moves exactly one frame of the recording; K pauses
        keys(w, "100", Key.Key_Return, Key.Key_L)
        assert st.speed == 1.0 and w.timer.isActive()
        for _ in range(3):
            w.tick()
        keys(w, Key.Key_K)
        assert st.number == 100 + 3 * w.frames_per_tick() and not w.timer.isActive()
        if name == "ann2":  # J plays backwards, again twice as fast; the other camera follows the frame
            keys(w, "100", Key.Key_Return, Key.Key_J, Key.Key_J)
            assert st.speed == -2.0
            w.tick()
            assert st.number == 100 - w.frames_per_tick()
            keys(w, Key.Key_K, "98", Key.Key_Return)
            assert np.array_equal(w.other.image, 255 - frame(98))  # the side camera's frame of that time
            keys(w, Key.Key_Right)
            assert np.array_equal(w.other.image, 255 - frame(98))  # it runs at 30 fps: the nearest is still 98
        if name == "ann1":
            w.clip_list.itemClicked.emit(w.clip_list.item(0))  # pick c1 in the list: to its onset
            assert st.selected == "c1" and st.number == 40
            keys(w, "45", Key.Key_Return)
            app.processEvents()
            img = shot(w, tmp_path / "annotate.png")
            from tests.monitor_fixtures import not_blank, saved_copy

            saved_copy(tmp_path / "annotate.png")
            assert not_blank(img)
            # the screenshot shows frame 45 (its moving square where frame 45 has it, not frame 40's)
            seen = shown_frame(img, w)
            assert np.abs(seen - frame(45)).mean() < 2.0
            assert abs(square_left(seen) - 45) <= 1 and square_left(frame(45)) == 45 and square_left(frame(40)) == 40
            assert green_pixels(region(img, w, w.timeline)) > 500  # the marked clips on the timeline
            assert "Positive+Surprise" in w.table4.text() and "c1" in w.clip_title.text()
        shutdown(app, w)
        st.source.close()
        # the labels file the keys wrote: every change, in order, with its time
        doc = json.loads((session / "labels" / f"{name}.json").read_text())
        ops = [(c["op"], c.get("clip"), c.get("fields") or c.get("candidate")) for c in doc["changes"]]
        assert ops[0] == ("add", "c1", {"onset": on, "apex": ap, "offset": off})
        assert ops[1] == ("set", "c1", {"aus": aus})
        assert all(c["time_ns"] > 0 for c in doc["changes"])
        if decision == "accept":
            assert (
                ("add", "c2") == ops[-2][:2]
                and ops[-2][2]["candidate"] == 0
                and ops[-1] == ("set", "c2", {"onset": 23})
            )
        else:
            assert ops[-1] == ("reject", None, 0)
    r = mestudio("labels", "merge", str(session), "--json")
    assert r.returncode == 0, r.stderr
    book = read_label_book(session / "labels" / "consensus" / "clips" / "labelbook.csv", "4dme")
    cand, mine = book
    assert (cand.onset, cand.apex, cand.offset) == (23, 25, 32)  # ann1 and ann2 adjusted it to 23
    assert (mine.onset, mine.apex, mine.offset) == (42, 46, 60)  # medians of the three
    assert [str(a) for a in mine.aus] == ["1B", "2B", "12A"]  # AU5 by one of three left out
    assert mine.emotions == ("Positive", "Surprise") and cand.emotions == ("Positive",)
    assert mine.kind == cand.kind == "micro"


def test_the_command_opens_a_session_and_saves_a_screenshot(session, tmp_path):
    out = tmp_path / "w.png"
    r = mestudio("annotate", str(session), "--annotator", "ann1", "--frame", "30", "--screenshot", str(out))
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 400 and float(img.std()) > 8
    r = mestudio("labels", "show", str(session), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["annotators"] == {}
    r = mestudio("annotate", str(session), "--annotator", "../x", "--screenshot", str(out))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "annotator name" in r.stderr


@pytest.mark.slow
def test_the_window_opens_under_xvfb(session, tmp_path, xvfb_two_screens):
    import os

    st = AnnotationState(open_source(session), "ann1")
    st.goto_number(40)
    st.mark("onset")
    st.goto_number(60)
    st.mark("offset")
    st.commit()
    out = tmp_path / "x11.png"
    env = {**os.environ, **xvfb_two_screens}
    r = mestudio("annotate", str(session), "--annotator", "ann1", "--frame", "45", "--screenshot", str(out), env=env)
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(out))[..., ::-1]
    assert img is not None and green_pixels(img) > 500  # the clip on the timeline, drawn by X11's Qt
    assert "(1 clips)" in r.stdout
