"""The benches' steadiness tools: interleaved rounds, medians and spreads, the machine's facts."""

from __future__ import annotations

import os

import pytest

from mestudio.benches._machine import facts
from mestudio.benches._rounds import Sample, interleave, paired_ratio, spread, summary


def test_rounds_rotate_the_order_so_no_variant_always_goes_first():
    order: list[str] = []

    def variant(name: str, mb_per_s: float):
        def run() -> Sample:
            order.append(name)
            return Sample(1.0, 0.5, mb_per_s)

        return run

    got = interleave({"raw": variant("raw", 100.0), "real": variant("real", 90.0), "x": variant("x", 50.0)}, 3)
    assert order == ["raw", "real", "x", "real", "x", "raw", "x", "raw", "real"]
    assert [len(v) for v in got.values()] == [3, 3, 3]
    assert paired_ratio(got["real"], got["raw"])["median"] == pytest.approx(0.9)
    s = summary(got["raw"])
    assert s["MB_per_s"]["median"] == 100.0 and s["cpu_ms_per_MB"]["median"] == pytest.approx(5.0)


def test_spread_is_the_range_over_the_median():
    s = spread([90.0, 100.0, 130.0])
    assert s == {"median": 100.0, "min": 90.0, "max": 130.0, "spread": 0.4}


def test_machine_facts_measure_the_disk_where_the_benches_write(tmp_path, monkeypatch):
    monkeypatch.setenv("MESTUDIO_BENCH_DIR", str(tmp_path))
    f = facts(quick=True)
    assert f["cores"] == os.cpu_count() and f["bench_dir"] == str(tmp_path)
    assert f["disk_write_MB_per_s"] > 0 and f["versions"]["numpy"] and f["libzmq"].count(".") == 2
    assert not list(tmp_path.iterdir())  # its scratch file is gone
