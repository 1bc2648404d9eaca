"""`mestudio bench monitor --quick --json` runs end to end and reports its figures (no targets here)."""

from __future__ import annotations

import json
import statistics

import pytest

pytest.importorskip("pyqtgraph")

from tests.conftest import mestudio


@pytest.mark.slow
@pytest.mark.gui
def test_bench_monitor_reports_latency_and_throughput_with_and_without():
    r = mestudio("bench", "monitor", "--quick", "--json", timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    assert d["latency_ms"]["frames_shown"] > 10 and 0 < d["latency_ms"]["p50"] <= d["latency_ms"]["p99"]
    rates = d["recorder_mb_per_s"]
    assert len(rates["without_monitor"]) == len(rates["with_monitor"]) == 2
    assert all(x > 0 for x in rates["without_monitor"] + rates["with_monitor"])
    # the figure is the median of the ratios taken inside each round, not a ratio of medians
    paired = [w / o for w, o in zip(rates["with_monitor"], rates["without_monitor"])]
    assert d["ratio_with_to_without"] == pytest.approx(statistics.median(paired), rel=0.01)
    assert d["frames_missing"] == 0 and d["monitor_cpu_ms_per_recorded_mb"] > 0
    rig = d["rig_rate"]  # paced at the rig's rate: every frame written, the CPU of both sides
    assert rig["target_mb_per_s"] == pytest.approx(6 * 60 * 1600 * 1200 / 1e6, rel=1e-3)
    for side in ("without_monitor", "with_monitor"):
        assert rig[side]["frames_missing"] == 0 and rig[side]["recorder_cpu_ms_per_mb"] > 0
        assert rig[side]["sent_mb_per_s"] > 0 and rig[side]["lag_ms_max"] >= rig[side]["lag_ms_p99"] > 0
    assert rig["monitor_cores"] > 0 and d["monitor"]["rig_frames_received"] > 0
    assert d["monitor"]["exit_code"] == 0 and d["producer_dropped"] == 0
