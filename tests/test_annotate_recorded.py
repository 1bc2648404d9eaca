"""Annotation of a session recorded by the real pipeline (capture, recorder, live analyzer): three
annotators through the state the window drives, the merge's label book, and the window on it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import mestudio, write_config
from tests.session_helpers import face_rig, session_dir

pytest.importorskip("pyqtgraph")

RECORDED = face_rig("ann", 640, 480, participant="P07", analyzer=True)

# each annotator's (onset, apex, offset) as offsets from the clip's first frame, and its AUs
PLAN = {"a": ((0, 5, 14), "4B+7A"), "b": ((2, 6, 12), "4C+7A+R14A"), "c": ((1, 4, 13), "4B")}


@pytest.mark.slow
@pytest.mark.gui
def test_three_annotators_on_a_recorded_session_give_the_studys_label_book(tmp_path):
    from mestudio.analysis.datasets.readers import read_label_book
    from mestudio.annotate.media import open_source
    from mestudio.annotate.state import AnnotationState
    from mestudio.stream.session_reader import SessionReader

    out = tmp_path / "out"
    r = mestudio("run", str(write_config(tmp_path / "s.toml", RECORDED)), "--duration", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    root = session_dir(out)
    recorded = SessionReader(root).stream("face")
    first_seq = int(recorded.index["seq"][0])
    base = first_seq + 20  # the clip starts 20 frames into the recording
    for name, ((on, ap, off), aus) in PLAN.items():
        st = AnnotationState(open_source(root), name)
        for phase, at in (("onset", on), ("apex", ap), ("offset", off)):
            st.goto_number(base + at)
            st.mark(phase)
        st.commit()
        st.set_aus(aus)
        st.source.close()
    r = mestudio("labels", "merge", str(root), "--json")
    assert r.returncode == 0, r.stderr
    [clip] = read_label_book(root / "labels" / "consensus" / "clips" / "labelbook.csv", "4dme")
    assert (clip.onset, clip.apex, clip.offset) == (base + 1, base + 5, base + 13)  # medians of three
    assert [str(a) for a in clip.aus] == ["4B", "7A"]  # R14A by one of three left out
    assert clip.emotions == ("Negative",) and clip.kind == "micro"  # Table 4; 13 frames at 30 fps
    # the window shows the recorded frame itself, read back through the session's reader
    shot = tmp_path / "w.png"
    r = mestudio("annotate", str(root), "--annotator", "a", "--frame", str(base + 5), "--screenshot", str(shot))
    assert r.returncode == 0, r.stderr
    import cv2

    img = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.std() > 10
    frame = np.asarray(next(f for rec, f in recorded.frames() if int(rec["seq"]) == base + 5)).reshape(480, 640)
    small = cv2.resize(frame, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
    best = 0.0
    for shown_width in range(320, 1281, 40):  # the frame on screen, at whatever size the layout gave it
        k = 64 / shown_width
        scaled = cv2.resize(img, (round(img.shape[1] * k), round(img.shape[0] * k)), interpolation=cv2.INTER_AREA)
        best = max(best, float(cv2.matchTemplate(scaled.astype(np.float32), small, cv2.TM_CCOEFF_NORMED).max()))
    assert best > 0.8, best  # the recorded face frame is on screen
