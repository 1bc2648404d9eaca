"""Subject-independent k-fold splits, balanced by sample count, with every class in every fold.

The study (section 5.1.2): subjects randomly divided into five folds with roughly balanced
sample numbers (samples per subject vary largely); every fold holds every emotion and AU.
Search: many seeded random greedy assignments (largest subjects first, each to the fold that
lacks its classes most, then the one with the fewest samples), each polished by single-subject
moves; the assignment with the lowest imbalance that covers every class in every fold wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mestudio.analysis.datasets.errors import FoldError


@dataclass(frozen=True)
class Folds:
    """fold_of_sample[i] in 0..k-1; fold_of_subject maps each subject id to its fold."""

    fold_of_sample: np.ndarray
    fold_of_subject: dict[str, int]
    k: int

    def split(self, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """(train indices, test indices) for ``fold``."""
        test = np.flatnonzero(self.fold_of_sample == fold)
        train = np.flatnonzero(self.fold_of_sample != fold)
        return train, test

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return (self.split(f) for f in range(self.k))


def _cost(counts: np.ndarray, sizes: np.ndarray, total_counts: np.ndarray) -> float:
    """Missing classes dominate; then relative deviation of fold sizes and class counts."""
    k = len(sizes)
    missing = int((counts == 0).sum())
    size_dev = np.abs(sizes - sizes.sum() / k).sum() / max(1.0, sizes.sum() / k)
    cls_dev = (np.abs(counts - total_counts / k) / np.maximum(1.0, total_counts / k)).mean(axis=1).sum()
    return 1000.0 * missing + size_dev + 0.5 * cls_dev


def subject_folds(subjects: list[str], labels: np.ndarray, k: int = 5, seed: int = 0, tries: int = 60) -> Folds:
    """Split samples (``subjects[i]`` owns sample i; ``labels`` (n, c) 0/1) into ``k`` folds."""
    if k < 2:
        raise FoldError(f"{k} folds asked for; cross-validation needs at least 2 (use --folds 2 or more)")
    labels = np.asarray(labels)
    if labels.size == 0 and len(subjects) == 0:
        raise FoldError(f"no samples to split into {k} folds; the dataset holds no labelled clips")
    if labels.ndim == 1:
        labels = np.eye(int(labels.max()) + 1, dtype=np.uint8)[labels]
    if labels.ndim != 2:
        raise FoldError(f"labels of shape {labels.shape}; give one row of 0/1 per sample (n, classes)")
    if len(subjects) != len(labels):
        raise FoldError(f"{len(subjects)} subject ids for {len(labels)} label rows; give one per sample")
    subj_ids = sorted(set(subjects))
    if len(subj_ids) < k:
        raise FoldError(f"only {len(subj_ids)} subjects for {k} folds; use --folds {len(subj_ids)} or fewer")
    row = {s: i for i, s in enumerate(subj_ids)}
    owner = np.array([row[s] for s in subjects])
    per_subj = np.zeros((len(subj_ids), labels.shape[1]), np.int64)
    np.add.at(per_subj, owner, labels.astype(np.int64))
    n_per_subj = np.bincount(owner, minlength=len(subj_ids))
    holders = (per_subj > 0).sum(axis=0)
    thin = [j for j in range(labels.shape[1]) if 0 < holders[j] < k]
    if thin:
        raise FoldError(
            f"classes {thin} occur in fewer than {k} subjects, so some fold would lack them; "
            f"drop those classes or use fewer folds"
        )
    total = per_subj.sum(axis=0)
    present = total > 0
    if not present.any():  # nothing to balance: every cost would be NaN and no split would win
        raise FoldError(
            f"none of the {labels.shape[1]} classes has a sample among {len(subjects)} samples of "
            f"{len(subj_ids)} subjects; {k} folds need a class found in {k} or more subjects: "
            "add subjects or clips, or use fewer folds"
        )
    rng = np.random.default_rng(seed)
    best, best_cost = None, np.inf
    for _ in range(max(1, tries)):
        order = np.argsort(-(n_per_subj + rng.random(len(subj_ids)) * 0.9 * n_per_subj.clip(1)))
        fold = np.empty(len(subj_ids), np.int64)
        counts = np.zeros((k, labels.shape[1]), np.int64)
        sizes = np.zeros(k, np.int64)
        for s in order:
            lacks = ((counts == 0) & (per_subj[s] > 0)).sum(axis=1)
            f = int(np.lexsort((rng.random(k), sizes, -lacks))[0])
            fold[s] = f
            counts[f] += per_subj[s]
            sizes[f] += n_per_subj[s]
        cost = _cost(counts[:, present], sizes, total[present])
        improved = True
        while improved:  # single-subject moves while they lower the cost
            improved = False
            for s in rng.permutation(len(subj_ids)):
                src = fold[s]
                for dst in range(k):
                    if dst == src or sizes[src] - n_per_subj[s] == 0:
                        continue
                    counts[src] -= per_subj[s]
                    counts[dst] += per_subj[s]
                    sizes[src] -= n_per_subj[s]
                    sizes[dst] += n_per_subj[s]
                    c = _cost(counts[:, present], sizes, total[present])
                    if c < cost - 1e-9:
                        cost, src, improved = c, dst, True
                        fold[s] = dst
                    else:
                        counts[dst] -= per_subj[s]
                        counts[src] += per_subj[s]
                        sizes[dst] -= n_per_subj[s]
                        sizes[src] += n_per_subj[s]
        if cost < best_cost:
            best, best_cost = fold.copy(), cost
    assert best is not None  # some class is present, so every cost is finite and one wins
    fold_of_sample = best[owner]
    check = np.zeros((k, labels.shape[1]), np.int64)
    np.add.at(check, fold_of_sample, labels.astype(np.int64))
    if ((check == 0) & present).any():
        raise FoldError(f"no split found with every class in every one of {k} folds; use fewer folds")
    return Folds(fold_of_sample, {s: int(best[row[s]]) for s in subj_ids}, k)
