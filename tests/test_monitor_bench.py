"""`mestudio bench monitor --quick --json` runs end to end and reports its figures (no targets here)."""

from __future__ import annotations

import json

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
    assert d["ratio_with_to_without"] == pytest.approx(
        rates["with_monitor_median"] / rates["without_monitor_median"], rel=0.01
    )
    assert d["monitor"]["exit_code"] == 0 and d["producer_dropped"] == 0
