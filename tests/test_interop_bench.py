"""`mestudio bench interop --quick --json` prints its figures beside the baselines measured in the same run."""

from __future__ import annotations

import json

import pytest

from tests.conftest import mestudio

pytest.importorskip("pylsl")


@pytest.mark.slow
def test_bench_interop_quick_json():
    r = mestudio("bench", "interop", "--quick", "--json", timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    fig = json.loads(r.stdout)
    lsl = fig["lsl_in_64ch"]
    assert lsl["mestudio_received"] == lsl["bare_pylsl_received"] == lsl["samples_sent"]  # nothing lost
    assert lsl["mestudio_samples_per_s"] > 0 and lsl["ratio"] > 0
    xdf = fig["xdf_export_64ch_1kHz"]
    assert xdf["xdf_MB_per_s"] > 0 and xdf["ratio"] > 0 and xdf["xdf_file_MB"] >= xdf["MB_of_samples"]
