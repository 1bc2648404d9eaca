"""Subject-independent folds: on the real label books (skipped when absent) and on made-up cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mestudio.analysis.datasets import read_label_book
from mestudio.analysis.datasets.errors import FoldError
from mestudio.analysis.protocol import subject_folds

LABELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "labels"


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
