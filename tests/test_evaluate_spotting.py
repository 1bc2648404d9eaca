"""`mestudio evaluate-spotting` on generated long videos in the CAS(ME)^2 layout (the real ones
are licensed): image folders s15/15_01xx/img<N>.jpg numbered from 101, an LGSNet-layout label CSV
written from the face rig's script, one labelled video absent; and the real smile clip of
../shared laid out the same way, labelled from its README (skipped when absent)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.analysis_fixtures import VIDEOS as CLIPS
from tests.analysis_fixtures import face_frames, needs_shared, read_video_gray
from tests.conftest import mestudio

FPS = 30.0
FIRST = 101  # the dataset's own frame numbers, not positions
VIDEOS = {
    "15_0101smile": (("macro", (6, 12), 1.5, 2.3, 3.4, 1.0),),
    "15_0102brows": (("macro", (1, 2), 1.6, 2.2, 3.0, 1.0),),
}
HEADER = "subject,video,type,type_idx,startFrame,endFrame,frame_num,length\n"
PREFIX = "./CAS(ME)2_longVideoFaceCropped/longVideoFaceCropped/s15/"


def _frame(t: float) -> int:
    return FIRST + int(round(t * FPS))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("casme2")
    rows = []
    for name, script in VIDEOS.items():
        clip = root / "videos" / "s15" / name
        clip.mkdir(parents=True)
        frames = face_frames(script, seconds=4.5, fps=FPS, width=320, height=240)
        for i, f in enumerate(frames):
            cv2.imwrite(str(clip / f"img{FIRST + i}.jpg"), f, [cv2.IMWRITE_JPEG_QUALITY, 95])
        for kind, _, on, _, off, _ in script:
            a, b = _frame(on), _frame(off)
            rows.append(f"1,{PREFIX}{name},{kind}-expression,1,{a},{b},{len(frames)},{b - a}\n")
    rows.append(f"1,{PREFIX}15_0199absent,macro-expression,1,10,40,100,30\n")
    labels = root / "labels.csv"
    labels.write_text(HEADER + "".join(rows))
    return root / "videos", labels


@pytest.mark.slow
def test_long_videos_are_found_analysed_and_scored_with_the_megc_protocol(dataset):
    videos, labels = dataset
    r = mestudio("evaluate-spotting", "--dataset", "casme2", "--videos", str(videos), "--labels", str(labels), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["videos_labelled"] == 3 and res["videos_analysed"] == 2 and res["videos_missing"] == 1
    assert res["fps"] == 30.0 and res["reference_f1"]["MDMD baseline (MEGC 2020)"] == 0.038
    s = res["scores"]
    assert s["macro"]["tp"] + s["macro"]["fn"] == 2 and s["micro"]["tp"] + s["micro"]["fn"] == 0
    assert s["overall"]["tp"] == s["macro"]["tp"] + s["micro"]["tp"]
    for v in res["videos"]:
        assert v["frames"] == v["frames_with_face"] == int(4.5 * FPS)
        # spotted intervals are in the dataset's numbering (images from img101), like the truth
        assert all(FIRST <= a <= b < FIRST + v["frames"] for a, b, _ in v["spotted"])
        assert v["truth"] == [[_frame(on), _frame(off), k] for k, _, on, _, off, _ in VIDEOS[v["video"].split("/")[-1]]]


@pytest.mark.slow
def test_a_real_smile_laid_out_as_a_long_video_is_a_true_positive(tmp_path):
    """pyfeat_single_face.mp4 as CAS(ME)^2 images; the truth from ../shared/data/README.md:
    "neutral then a smile from about frame 24" (to its last frame, 72)."""
    frames, _ = read_video_gray(needs_shared(CLIPS / "pyfeat_single_face.mp4"))
    clip = tmp_path / "videos" / "s16" / "16_0101smile"
    clip.mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(clip / f"img{i + 1}.jpg"), f, [cv2.IMWRITE_JPEG_QUALITY, 95])
    labels = tmp_path / "labels.csv"
    labels.write_text(HEADER + f"1,./x/s16/16_0101smile,macro-expression,1,24,{len(frames)},{len(frames)},48\n")
    r = mestudio(
        "evaluate-spotting", "--dataset", "casme2", "--videos", str(tmp_path / "videos"), "--labels", str(labels)
    )
    assert r.returncode == 0, r.stderr
    macro = next(ln for ln in r.stdout.splitlines() if "Macro-expression" in ln)
    assert [c.strip() for c in macro.split("|")[3:6]] == ["1", "0", "0"], r.stdout  # TP 1, FP 0, FN 0


def test_the_table_and_the_errors(dataset, tmp_path):
    videos, labels = dataset
    r = mestudio("evaluate-spotting", "--dataset", "casme2", "--videos", str(tmp_path), "--labels", str(labels))
    assert r.returncode == 2 and "none of the 3 labelled videos" in r.stderr and len(r.stderr.splitlines()) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    r = mestudio("evaluate-spotting", "--dataset", "samm", "--videos", str(videos), "--labels", str(bad))
    assert r.returncode == 2 and "LGSNet" in r.stderr and len(r.stderr.splitlines()) == 1
    from mestudio.analysis.evaluation.long_videos import megc_table

    scores = {
        k: {"tp": 1, "fp": 2, "fn": 3, "precision": 1 / 3, "recall": 0.25, "f1": 2 / 7}
        for k in ("micro", "macro", "overall")
    }
    table = megc_table({"dataset_name": "CAS(ME)^2", "scores": scores, "reference_f1": {"LGSNet": 0.46}})
    lines = table.splitlines()
    assert lines[0].startswith("| Dataset | Expression | TP | FP | FN | Precision | Recall | F1-score |")
    assert [ln.split("|")[2].strip() for ln in lines[2:5]] == ["Macro-expression", "Micro-expression", "Overall"]
    assert "| 1 | 2 | 3 | 0.3333 | 0.2500 | 0.2857 |" in lines[2] and "LGSNet 0.460" in table


def test_an_unreadable_video_is_listed_and_the_evaluation_goes_on(tmp_path):
    """Hours into a dataset, one file that is not a video must not end the run: it is counted and
    named (not scored, like a missing one), the next video is analysed."""
    from mestudio.analysis.evaluation.long_videos import evaluate_long_videos

    folder = tmp_path / "videos" / "s15"
    folder.mkdir(parents=True)
    (folder / "15_0201bad.mp4").write_text("not a video")
    good = folder / "15_0202plain"
    good.mkdir()
    for i in range(12):
        cv2.imwrite(str(good / f"img{FIRST + i}.jpg"), np.full((48, 64), 40 + i, np.uint8))
    labels = tmp_path / "labels.csv"
    rows = [f"1,{PREFIX}{n},macro-expression,1,{FIRST},{FIRST + 5},12,5\n" for n in ("15_0201bad", "15_0202plain")]
    labels.write_text(HEADER + "".join(rows))
    r = evaluate_long_videos("cas3", tmp_path / "videos", labels)
    assert r["videos_failed"] == 1 and r["videos_analysed"] == 1 and r["videos_missing"] == 0
    (f,) = r["failed"]
    assert f["video"].endswith("15_0201bad") and "not a video" in f["error"]
    assert r["videos"][0]["frames"] == 12 and r["videos"][0]["frames_damaged"] == 0
    assert r["scores"]["macro"]["fn"] == 1  # the analysed video's truth is still scored
