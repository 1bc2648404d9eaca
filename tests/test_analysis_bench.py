"""`mestudio bench analyzer` prints its figures beside the baseline measured in the same run."""

from __future__ import annotations

import json

import pytest

from tests.conftest import mestudio


@pytest.mark.slow
def test_bench_analyzer_quick_json():
    r = mestudio("bench", "analyzer", "--json", "--quick", timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    f = json.loads(r.stdout)
    for key in (
        "baseline_face_mesh_fps",
        "face_spotting_fps",
        "face_spotting_micro_scale_only_fps",
        "face_spotting_lbp_fps",
        "face_spotting_fusion_off_fps",
        "au_emotion_ms_per_event",
        "offline_analyze_x_realtime",
    ):
        assert f[key] > 0, key
    assert f["ratio_to_baseline"] == pytest.approx(f["face_spotting_fps"] / f["baseline_face_mesh_fps"], rel=0.01)
    assert f["face_spotting_x_realtime_60fps"] == pytest.approx(f["face_spotting_fps"] / 60, rel=0.01)
    assert f["cpu"].startswith("one core") and f["face_spotting_latency_s"] == pytest.approx(1.1)
