"""`mestudio bench annotate --quick --json` prints its figures beside the baselines measured in the same run."""

from __future__ import annotations

import json

import pytest

from tests.conftest import mestudio

pytest.importorskip("pyqtgraph")


@pytest.mark.slow
def test_bench_annotate_quick_json():
    r = mestudio("bench", "annotate", "--quick", "--json", timeout=240)
    assert r.returncode == 0, r.stderr
    fig = json.loads(r.stdout)
    video = fig["video_640x480_h264"]
    assert video["straight_decode_fps (baseline)"] > 0 and video["random_frames_per_s"] > 0
    assert video["random_ratio"] == pytest.approx(
        video["random_frames_per_s"] / video["straight_decode_fps (baseline)"], rel=0.01
    )
    assert fig["window_offscreen"]["annotate_repaints_per_s"] > 0 and fig["merge_3_annotators_clips_per_s"] > 0
