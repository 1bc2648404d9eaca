"""Equations 1-4 per class, their averages, Table 5/6 layout (CSV + Markdown) and the plots."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from mestudio.analysis.protocol import evaluate_binary, to_csv, to_markdown, write_tables
from mestudio.analysis.protocol.plots import plot_confusion, plot_per_class


def test_equations_1_to_4_by_hand():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0], [1, 1]])
    p = np.array([[1, 0], [0, 0], [1, 1], [0, 1], [1, 0]])
    r = evaluate_binary(y, p, ["A", "B"], "m")
    a, b = r.classes
    assert (a.tp, a.tn, a.fp, a.fn) == (2, 1, 1, 1)
    assert a.accuracy == pytest.approx(3 / 5)  # (1)
    assert a.precision == pytest.approx(2 / 3)  # (2)
    assert a.recall == pytest.approx(2 / 3)  # (3)
    assert a.f1 == pytest.approx(2 / 3)  # (4)
    assert (b.tp, b.tn, b.fp, b.fn) == (1, 2, 1, 1)
    assert b.f1 == pytest.approx(0.5)
    assert r.mean_f1 == pytest.approx((2 / 3 + 0.5) / 2)
    assert r.mean_accuracy == pytest.approx((0.6 + 0.6) / 2)


def test_no_positive_predictions_gives_zero_f1_not_nan():
    r = evaluate_binary(np.array([[1], [0]]), np.array([[0], [0]]), ["A"])
    assert r.classes[0].f1 == 0.0 and r.classes[0].accuracy == 0.5


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        evaluate_binary(np.zeros((3, 2)), np.zeros((3, 3)), ["A", "B"])


def reports():
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]])
    good = evaluate_binary(y, y, ["Positive", "Negative", "Surprise"], "Res3D+SCA")
    bad = evaluate_binary(y, np.zeros_like(y), ["Positive", "Negative", "Surprise"], "LBP-TOP")
    return [bad, good]


def test_table_layout_like_the_study():
    rows = list(csv.reader(io.StringIO(to_csv(reports()))))
    assert rows[0] == ["Metrics", "", "Positive", "Negative", "Surprise", "Average"]
    assert rows[1] == ["", "Number of samples", "2", "2", "2", ""]
    assert [r[:2] for r in rows[2:]] == [
        ["F1-score", "LBP-TOP"],
        ["F1-score", "Res3D+SCA"],
        ["Accuracy (%)", "LBP-TOP"],
        ["Accuracy (%)", "Res3D+SCA"],
    ]
    assert rows[3][2:] == ["1.0000"] * 4 and rows[5][2:] == ["100.00"] * 4
    assert rows[4][-1] == "60.00"
    md = to_markdown(reports(), "Table 6")
    assert "| F1-score | LBP-TOP | 0.0000" in md and "**1.0000**" in md and md.startswith("**Table 6**")


def test_tables_and_plots_written(tmp_path):
    import cv2

    paths = write_tables(reports(), tmp_path, "emotion")
    assert [p.name for p in paths] == ["emotion.csv", "emotion.md"]
    import pandas as pd

    df = pd.read_csv(paths[0], keep_default_na=False)
    assert df.shape == (5, 6)
    bars = plot_per_class(reports(), tmp_path / "bars.png", "t")
    conf = plot_confusion(reports()[1], tmp_path / "conf.png")
    for p in (bars, conf):
        img = cv2.imread(str(p))
        assert img is not None and img.shape[0] > 100 and img.std() > 10  # a real, non-blank image
