"""`mestudio train`, `mestudio evaluate` and `mestudio bench models` through the real command line."""

from __future__ import annotations

import json

import pytest

from tests.conftest import mestudio

SMALL = [
    "--synthetic-subjects",
    "6",
    "--synthetic-clips",
    "5",
    "--size",
    "24",
    "--frames",
    "6",
    "--threads",
    "1",
    "--no-progress",
]


@pytest.mark.slow
def test_train_then_evaluate_the_checkpoint(tmp_path):
    ck = tmp_path / "tiny.pt"
    r = mestudio("train", "--model", "res3d18_sca_tiny", "--epochs", "2", "--out", str(ck), "--json", *SMALL)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["labels"] == ["Positive", "Negative", "Surprise", "Repression", "Others"]
    assert summary["samples"] == 30 and summary["subjects"] == 6 and ck.is_file()
    r = mestudio("evaluate", "--checkpoint", str(ck), "--out", str(tmp_path / "ev"), *SMALL)
    assert r.returncode == 0, r.stderr
    assert "| F1-score | res3d18_sca_tiny |" in r.stdout and "Accuracy (%)" in r.stdout
    assert (tmp_path / "ev" / "emotion_results.csv").is_file()


@pytest.mark.slow
def test_evaluate_cross_validates_and_writes_tables_and_plots(tmp_path):
    out = tmp_path / "ev"
    r = mestudio(
        "evaluate",
        "--models",
        "lbptop_svm_tiny,res3d18_tiny",
        "--epochs",
        "1",
        "--task",
        "au",
        "--out",
        str(out),
        "--json",
        *SMALL,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert [x["method"] for x in res["results"]] == ["lbptop_svm_tiny", "res3d18_tiny"]
    aus = list(res["results"][0]["classes"])
    assert aus and all(a.startswith("AU") for a in aus)
    names = {p.split("/")[-1] for p in res["files"]}
    assert {"au_results.csv", "au_results.md", "au_per_class.png", "folds.json"} <= names
    folds = json.loads((out / "folds.json").read_text())
    assert folds["k"] == 5 and len(folds["fold_of_subject"]) == 6
    md = (out / "au_results.md").read_text()
    assert md.count("| F1-score |") == 1 and "Number of samples" in md


def test_error_is_one_clear_line():
    r = mestudio("train", "--model", "nope", *SMALL)
    assert r.returncode == 2 and "unknown model 'nope'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def run_in_process(module, argv):
    import argparse

    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return module.run(p.parse_args(argv))


@pytest.mark.parametrize(
    "command, argv, message",
    [
        ("evaluate", ["--dataset", "casme2"], "--labels FILE and --clips FOLDER"),
        ("evaluate", ["--checkpoint", "/nonexistent/missing.pt"], "mestudio train"),
        ("evaluate", ["--models", "res3d18_tiny,nope"], "unknown model 'nope'"),
        ("train", ["--model", "au_graph_tiny", "--task", "au"], "--task emotion"),
        ("train", ["--model", "res3d18_tiny", "--dataset", "session"], "--session FOLDER and --stream ID"),
        ("evaluate", ["--models", "lbptop_svm_tiny", "--folds", "1"], "at least 2"),
        ("evaluate", ["--models", "lbptop_svm_tiny", "--folds", "7"], "occurs in 7 or more subjects"),  # 6 subjects
    ],
)
def test_errors_name_what_to_fix(command, argv, message, capsys):
    import importlib

    mod = importlib.import_module(f"mestudio.commands.{command}")
    assert run_in_process(mod, argv + SMALL) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith(f"mestudio {command}: ")


def test_evaluate_lists_models():
    r = mestudio("evaluate", "--list")
    assert r.returncode == 0 and "res3d18_sca_tiny" in r.stdout and "(small)" in r.stdout


@pytest.mark.slow
def test_bench_models_reports_every_model():
    r = mestudio("bench", "models", "--json", "--quick", timeout=240)
    assert r.returncode == 0, r.stderr
    figs = json.loads(r.stdout)
    from mestudio.analysis.models import list_models

    assert set(figs["models"]) == set(list_models())
    assert figs["models"]["res3d18"]["ratio_to_baseline"] == 1.0
    assert all(m["ms_per_clip"] > 0 for m in figs["models"].values())
