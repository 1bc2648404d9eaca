"""CCDN on the synthetic 4D set through the real command line: train, score the checkpoint, and
Tables 7-8 (Left, Right, Front, Multi-views) from the subject-independent 5-fold protocol."""

from __future__ import annotations

import json

import pytest

from tests.conftest import mestudio

TINY = [
    "--dataset",
    "synthetic4d",
    "--synthetic-subjects",
    "5",
    "--synthetic-clips",
    "5",
    "--size",
    "24",
    "--frames",
    "6",
    "--epochs",
    "1",
    "--threads",
    "1",
    "--no-progress",
]


@pytest.mark.slow
def test_train_ccdn_tiny_then_score_its_checkpoint(tmp_path):
    ck = tmp_path / "ccdn.pt"
    r = mestudio("train", "--model", "ccdn_tiny", "--task", "au", "--out", str(ck), "--json", *TINY, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "ccdn_tiny" and out["samples"] == 25 and ck.is_file()
    assert set(out["labels"]) <= {"AU1", "AU2", "AU4", "AU6", "AU7", "AU12", "AU17", "AU45"}
    r = mestudio("evaluate", "--checkpoint", str(ck), "--out", str(tmp_path / "ev"), "--json", *TINY, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["results"][0]
    assert res["method"] == "ccdn_tiny"


@pytest.mark.slow
def test_evaluate_prints_table_8_with_the_three_profiles_and_multi_views(tmp_path):
    r = mestudio("evaluate", "--task", "emotion", "--out", str(tmp_path), *TINY, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "Table 8-style ME emotion recognition on 4D data" in r.stdout
    rows = [
        line.split("|")[2].strip()
        for line in r.stdout.splitlines()
        if line.startswith("| F1-score") or (line.startswith("|  |") and "Number" not in line)
    ]
    assert rows[:4] == ["Left", "Right", "Front", "Multi-views"]
    assert (tmp_path / "emotion_results.csv").is_file() and (tmp_path / "emotion_per_class.png").is_file()
    assert (tmp_path / "emotion_confusion_Multi-views.png").is_file()


def test_2d_models_refuse_4d_views_in_one_line(tmp_path):
    r = mestudio("evaluate", "--models", "res3d18_tiny", "--out", str(tmp_path), *TINY)
    assert r.returncode == 2
    assert "takes 2D clips" in r.stderr and len(r.stderr.strip().splitlines()) == 1
