"""Subject-independent folds: on the real label books (skipped when absent) and on made-up cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mestudio.analysis.datasets import read_label_book
from mestudio.analysis.datasets.errors import FoldError
from mestudio.analysis.protocol import subject_folds
from tests.conftest import SHARED

LABELS = SHARED / "data" / "labels"


def check(subjects, y, folds, k, max_size_spread):
    subjects = np.array(subjects)
    # subject-independent: every subject's samples in exactly one fold
    for s in set(subjects):
        assert len(set(folds.fold_of_sample[subjects == s])) == 1
    sizes = np.bincount(folds.fold_of_sample, minlength=k)
    assert sizes.max() - sizes.min() <= max_size_spread, sizes
    present = y.sum(axis=0) > 0
    for f in range(k):
        assert (y[folds.fold_of_sample == f][:, present].sum(axis=0) > 0).all(), f"fold {f} lacks a class"
    train, test = folds.split(0)
    assert not set(subjects[train]) & set(subjects[test])


@pytest.mark.parametrize(
    "name, fmt, spread",
    [
        ("CASME2-coding-20190701.xlsx", "casme2", 8),
        ("SAMM_Micro_FACS_Codes_v2.xlsx", "samm", 6),
        ("combined_3class_gt.csv", "megc", 6),
    ],
)
def test_real_books_split_subject_independent_and_balanced(name, fmt, spread):
    p = LABELS / name
    if not p.is_file():
        pytest.skip(f"{p} not present")
    book = read_label_book(p, fmt)
    y = book.emotion_matrix()
    y = y[:, y.sum(axis=0) > 0]
    folds = subject_folds(book.subjects, y, 5, seed=0)
    check(book.subjects, y, folds, 5, spread)
    assert sum(np.bincount(folds.fold_of_sample)) == len(book)


def test_real_casme2_au_folds():
    p = LABELS / "CASME2-coding-20190701.xlsx"
    if not p.is_file():
        pytest.skip(f"{p} not present")
    book = read_label_book(p, "casme2")
    y = book.au_matrix()
    subj = np.array(book.subjects)
    y = y[:, [j for j in range(y.shape[1]) if len(set(subj[y[:, j] > 0])) >= 5]]
    check(book.subjects, y, subject_folds(book.subjects, y, 5), 5, 12)


def test_seeded_and_uneven_subjects():
    rng = np.random.default_rng(0)
    sizes = [1, 1, 2, 3, 5, 8, 13, 2, 4, 6, 3, 9]
    subjects = [f"s{i}" for i, n in enumerate(sizes) for _ in range(n)]
    y = np.eye(3, dtype=np.uint8)[rng.integers(0, 3, len(subjects))]
    a = subject_folds(subjects, y, 3, seed=5)
    b = subject_folds(subjects, y, 3, seed=5)
    assert np.array_equal(a.fold_of_sample, b.fold_of_sample)
    check(subjects, y, a, 3, 3)


def test_class_in_too_few_subjects_is_refused():
    subjects = ["a", "a", "b", "c", "d", "e"]
    y = np.array([[1, 0], [0, 1], [1, 0], [1, 0], [1, 0], [1, 0]])
    with pytest.raises(FoldError, match="fewer than 5 subjects"):
        subject_folds(subjects, y, 5)
    with pytest.raises(FoldError, match="--folds"):
        subject_folds(subjects[:3], y[:3], 5)


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.zeros((10, 0), np.uint8), "none of the 0 classes has a sample among 10 samples of 5 subjects"),
        (np.zeros((10, 3), np.uint8), "none of the 3 classes has a sample"),
    ],
)
def test_no_class_to_split_on_is_one_clear_error(labels, message):
    # what `train_shipped_ccdn.py --subjects 5 --clips 2` hands over once its thin classes are dropped
    subjects = [f"s{i // 2}" for i in range(10)]
    with pytest.raises(FoldError, match=message) as e:
        subject_folds(subjects, labels, 5)
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)


@pytest.mark.parametrize("k", [1, 0, -3])
def test_fewer_than_two_folds_is_refused(k):
    with pytest.raises(FoldError, match="at least 2"):
        subject_folds(["a", "b", "c"], np.eye(3, dtype=np.uint8), k)


def test_no_samples_is_refused():
    with pytest.raises(FoldError, match="no samples"):
        subject_folds([], np.zeros((0, 2), np.uint8), 2)


@pytest.mark.slow
def test_training_script_reports_too_small_a_set_in_one_line():
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "train_shipped_ccdn.py"
    argv = [sys.executable, str(script), "--subjects", "5", "--clips", "2", "--epochs", "1", "--threads", "1"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "train_shipped_ccdn: error: none of the 0 classes has a sample among 10 samples of 5 subjects; "
        "5 folds need a class found in 5 or more subjects: add subjects or clips, or use fewer folds"
    ]
