"""`mestudio bench sync`: figures against truth, with pyxdf on the same data as the baseline."""

from __future__ import annotations

import json

import pytest

from tests.conftest import mestudio


@pytest.mark.slow
def test_bench_sync_reports_errors_and_the_pyxdf_baseline():
    r = mestudio("bench", "sync", "--json", "--quick", timeout=240)
    assert r.returncode == 0, r.stderr
    fig = json.loads(r.stdout)
    assert fig["clock_resets"] == 1 and fig["dropped_frames"] > 0
    ours = fig["mestudio_offline"]
    assert ours["rms_ms"] <= 0.1 and ours["max_ms"] < 1.0
    base = fig[fig["baseline"]]
    assert fig["baseline"].startswith("pyxdf_") and base["rms_ms"] > ours["rms_ms"]
    assert fig["rms_ratio_to_baseline"] == pytest.approx(ours["rms_ms"] / base["rms_ms"], rel=1e-3)
    assert set(ours["rms_per_stream_ms"]) == {"mic", "face", "kinect-color", "webcam"}
