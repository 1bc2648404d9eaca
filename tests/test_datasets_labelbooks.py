"""Label-book readers: the real files in $MESTUDIO_SHARED/data/labels (skipped when absent) and generated ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mestudio.analysis.datasets import LabelBookError, parse_aus, read_label_book
from mestudio.analysis.datasets.aus import active_au_numbers
from tests.conftest import SHARED

LABELS = SHARED / "data" / "labels"  # MESTUDIO_SHARED, else ../shared beside the checkout


def real(name: str) -> Path:
    p = LABELS / name
    if not p.is_file():
        pytest.skip(f"{p} not present (real label books live outside the repo)")
    return p


def test_casme2_counts_and_fields():
    book = read_label_book(real("CASME2-coding-20190701.xlsx"), "casme2")
    assert len(book) == 255
    assert len(set(book.subjects)) == 26
    first = book[0]
    assert (first.subject, first.clip, first.onset, first.apex, first.offset) == ("01", "EP02_01f", 46, 59, 86)
    assert first.emotions == ("Positive",) and first.raw_emotion == "happiness"
    # every row has an emotion; onset <= apex <= offset where the book gives all three
    assert all(s.emotions for s in book)
    assert all(s.onset <= s.offset for s in book if s.onset is not None and s.offset is not None)
    assert book.emotion_matrix().sum() == 255  # one emotion each in CASME II


def test_samm_preamble_skipped_and_counts():
    book = read_label_book(real("SAMM_Micro_FACS_Codes_v2.xlsx"), "samm")
    assert len(book) == 159
    assert len(set(book.subjects)) == 29
    assert book[0].subject == "006" and book[0].clip == "006_1_2"
    assert {str(a) for a in book[0].aus} == {"4", "7"}
    assert book[0].emotions == ("Negative",)  # Anger


def test_megc_composite_counts():
    book = read_label_book(real("combined_3class_gt.csv"), "megc")
    assert len(book) == 442
    assert {s.dataset for s in book} == {"smic", "casme2", "samm"}
    assert book.emotion_matrix(("Negative", "Positive", "Surprise")).sum(axis=0).tolist() == [250, 109, 83]


@pytest.mark.parametrize(
    "name, rows",
    [("casme2_annotation_357.csv", 357), ("samm_annotation.csv", 499), ("cas3_annotation_full_me_reduce.csv", 2348)],
)
def test_spotting_intervals(name, rows):
    book = read_label_book(real(name), "spotting")
    assert len(book) == rows
    assert all(s.onset is not None and s.offset is not None and s.onset <= s.offset for s in book)
    assert {s.kind for s in book} <= {"micro", "macro"} and "macro" in {s.kind for s in book}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4+7+L10", ["4", "7", "L10"]),
        ("A1B+A2C", ["A1B", "A2C"]),
        ("ref(7B)+43", ["ref(7B)", "43"]),
        ("(R6 or R12) + R15", ["R6", "R15"]),
        ("4A/B", ["4A"]),
        ("R14+17+soft focus", ["R14", "17"]),
        ("", []),
        (None, []),
    ],
)
def test_au_strings(text, expected):
    assert [str(c) for c in parse_aus(text)] == expected


def test_referenced_aus_are_not_active():
    assert active_au_numbers(parse_aus("ref(7B)+43+L12A")) == {43, 12}


def test_4dme_book_csv_and_xlsx(tmp_path):
    import pandas as pd

    df = pd.DataFrame(
        {
            "Subject": ["S01", "S01", "S02", "S03"],
            "Clip": ["c1", "c2", "c1", "c1"],
            "Onset": [10, 50, 5, 7],
            "Apex": [14, 60, 9, 9],
            "Offset": [20, 70, 15, 12],
            "AUs": ["L1A+2B", "4C+7", "12A", "1+2+12"],
            "Emotion": ["S", "N", "P", "PS"],
            "Type": ["Micro", "Micro", "Macro", "Micro"],
        }
    )
    for path in (tmp_path / "4dme.csv", tmp_path / "4dme.xlsx"):
        (df.to_csv(path, index=False) if path.suffix == ".csv" else df.to_excel(path, index=False))
        book = read_label_book(path, "4dme")
        assert len(book) == 4
        assert book[0].emotions == ("Surprise",)
        assert book[3].emotions == ("Positive", "Surprise")
        assert book[2].kind == "macro"
        assert [str(a) for a in book[0].aus] == ["L1A", "2B"]
        assert book.emotion_matrix().tolist()[3] == [1, 0, 1, 0, 0]


def test_4dme_two_emotion_columns(tmp_path):
    import pandas as pd

    p = tmp_path / "book.csv"
    pd.DataFrame(
        {
            "subject": ["a"],
            "clip": ["x"],
            "onset": [1],
            "apex": [2],
            "offset": [3],
            "AUs": ["4"],
            "Emotion1": ["Negative"],
            "Emotion2": ["Repression"],
        }
    ).to_csv(p, index=False)
    assert read_label_book(p, "4dme")[0].emotions == ("Negative", "Repression")


def test_4dme_three_emotions_is_an_error(tmp_path):
    import pandas as pd

    p = tmp_path / "book.csv"
    pd.DataFrame(
        {"subject": ["a"], "clip": ["x"], "onset": [1], "apex": [2], "offset": [3], "AUs": ["4"], "Emotion": ["P+N+S"]}
    ).to_csv(p, index=False)
    with pytest.raises(LabelBookError, match="at most two"):
        read_label_book(p, "4dme")


def test_wrong_format_names_the_problem(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(LabelBookError, match="not a 4DME label book"):
        read_label_book(p, "4dme")
    with pytest.raises(LabelBookError, match="no such label book"):
        read_label_book(tmp_path / "missing.xlsx", "casme2")
    with pytest.raises(LabelBookError, match="unknown label-book format"):
        read_label_book(p, "nope")
    with pytest.raises(ValueError):  # LabelBookError is also a ValueError
        read_label_book(p, "megc")


def test_au_matrix_uses_study_aus():
    from mestudio.analysis.datasets import STUDY_AUS, LabelBook, Sample

    book = LabelBook([Sample("x", "1", "a", aus=parse_aus("1+2+ref(4)")), Sample("x", "2", "b", aus=parse_aus("L12"))])
    m = book.au_matrix()
    assert m.shape == (2, len(STUDY_AUS))
    assert np.flatnonzero(m[0]).tolist() == [0, 1] and np.flatnonzero(m[1]).tolist() == [STUDY_AUS.index(12)]
