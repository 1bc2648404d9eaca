"""What the annotator can open besides a session: a video file (frame-accurate in any order, through
key frames) and an image-sequence folder (frames numbered as the images are)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mestudio.annotate.errors import SourceError
from mestudio.annotate.media import open_source
from mestudio.annotate.state import AnnotationState
from tests.conftest import mestudio

N = 40


def level(i: int) -> int:
    return (i * 37) % 200 + 20  # every frame its own grey level


def write_video(path, n: int = N, gop: int = 12) -> None:
    """H.264, lossless (qp 0), a key frame every ``gop`` frames: reaching frame i means decoding from one."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30, options={"qp": "0", "g": str(gop), "bf": "2"})
        s.width, s.height, s.pix_fmt = 64, 48, "yuv444p"
        for i in range(n):
            img = np.full((48, 64, 3), level(i), np.uint8)
            img[5:15, i : i + 8] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_video_frames_are_exact_in_any_order(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path)
    src = open_source(path)
    assert len(src) == N and src.fps == pytest.approx(30.0)
    assert np.allclose(np.diff(src.times_s), 1 / 30, atol=1e-3)
    order = [39, 0, 13, 12, 11, 25, 24, 38, 1, 30, 30, 5]
    for i in order:
        f = src.frame(i)
        assert abs(int(np.median(f[30:])) - level(i)) <= 2, i  # the frame asked for, not a neighbour
        assert int(np.argmax(f[10, :, 0] > 240)) == i  # its bar starts at column i
    assert src.labels_dir == tmp_path / "clip.mp4.labels"
    st = AnnotationState(src, "ann1")
    st.type_digit("2")
    st.type_digit("0")
    st.enter()
    assert st.pos == 20 and st.number == 20
    src.close()
    bad = tmp_path / "not.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match="not a video"):
        open_source(bad)


def test_image_folder_numbers_frames_as_the_images_and_merges(tmp_path):
    folder = tmp_path / "sub01" / "EP01_01"
    folder.mkdir(parents=True)
    for n in range(46, 46 + 30):  # CASME II names img46.jpg ... (numbers compared as numbers)
        img = np.full((24, 32), level(n), np.uint8)
        assert cv2.imwrite(str(folder / f"img{n}.png"), img)
    src = open_source(folder)
    assert src.fps == 200.0 and src.numbering == "image number"  # CASME II layout: 200 fps
    assert list(src.numbers[:3]) == [46, 47, 48] and int(np.median(src.frame(0))) == level(46)
    for name, (on, off) in {"a": (50, 60), "b": (52, 61), "c": (51, 66)}.items():
        st = AnnotationState(src, name)
        st.goto_number(on)
        st.mark("onset")
        st.goto_number(off)
        st.mark("offset")
        st.commit()
        st.set_aus("4+7")
    r = mestudio("labels", "merge", str(folder), "--json", "--no-plot")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    (clip,) = out["clips"]
    assert (clip["onset"], clip["offset"]) == (51, 61) and clip["emotion"] == "Negative"
    assert clip["duration_s"] == pytest.approx(10 / 200) and clip["kind"] == "micro"
    book = tmp_path / "sub01" / "EP01_01.labels" / "consensus" / "clips" / "labelbook.csv"
    assert out["written"]["label_book"] == str(book)
    from mestudio.analysis.datasets.readers import read_label_book

    (s,) = read_label_book(book, "4dme")
    assert (s.subject, s.onset, s.offset, s.emotions) == ("sub01", 51, 61, ("Negative",))
    r = mestudio("labels", "merge", str(folder), "--elan")
    assert r.returncode == 2 and "--elan needs a session" in r.stderr


def test_the_analyzers_csvs_give_an_image_folder_its_candidates_and_au_traces(tmp_path):
    from mestudio.analysis.analyzer.offline import write_au_csv, write_events_csv
    from mestudio.annotate.timeline import add_analyzer_csvs, build_timeline

    folder = tmp_path / "clip"
    folder.mkdir()
    for n in range(100, 130):
        assert cv2.imwrite(str(folder / f"f{n}.png"), np.full((24, 32), level(n), np.uint8))
    events, aus = tmp_path / "events.csv", tmp_path / "aus.csv"
    # what `mestudio analyze FOLDER --events-csv --au-csv` writes: 1-based frames of the input
    write_events_csv(
        [
            {
                "kind": "micro",
                "onset_frame": 5,
                "apex_frame": 8,
                "offset_frame": 12,
                "aus": [6, 12],
                "emotion": "Positive",
            },
            {"kind": "blink", "onset_frame": 20, "apex_frame": 21, "offset_frame": 23, "aus": [45], "emotion": "None"},
        ],
        events,
    )
    write_au_csv(
        [{"frame": f, "timestamp": f / 30, "success": 1, "AU12_r": 2.5 if 5 <= f <= 12 else 0.0} for f in range(1, 31)],
        aus,
    )
    src = open_source(folder, fps=30)
    tl = add_analyzer_csvs(build_timeline(src), src, str(events), str(aus))
    (c,) = tl.candidates  # the blink is no candidate
    assert (c.onset, c.apex, c.offset, c.aus) == (104, 107, 111, (6, 12))  # image numbers of frames 5, 8, 12
    assert list(tl.au) == ["AU12"] and tl.au["AU12"][4] == 2.5 and tl.au_pos[0] == 0
    st = AnnotationState(src, "ann1", tl)
    assert st.next_candidate() is not None and st.number == 104
    st.accept_candidate()
    assert st.clips["c1"].aus[1].number == 12 and st.view("c1").emotion == "Positive"
    r = mestudio(
        "annotate", str(folder), "--fps", "30", "--events-csv", str(aus), "--screenshot", str(tmp_path / "x.png")
    )
    assert r.returncode == 2 and "not the analyzer's CSV" in r.stderr and r.stderr.count("\n") == 1
