"""The live analyzer node in a real session, and `analyze` giving the same events afterwards."""

from __future__ import annotations

import json

import pytest

from mestudio.analysis.analyzer.offline import analyze_session, compare_live
from mestudio.analysis.evaluation import compare_with_script
from mestudio.analysis.evaluation.compare import recorded_results
from tests.conftest import mestudio, write_config

CONFIG = """
[session]
name = "an"
[transport]
heartbeat_s = 0.2
[[devices]]
name = "face"
kind = "synthetic-camera"
width = 320
height = 240
fps = 30
source = "face"
[analyzer]
enabled = true
"""


@pytest.mark.slow
def test_live_analyzer_results_are_recorded_and_reproduced_offline(tmp_path):
    cfg = write_config(tmp_path / "an.toml", CONFIG)
    r = mestudio("run", str(cfg), "--duration", "8", "--out", str(tmp_path / "out"), "--quiet", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    session = next((tmp_path / "out").glob("*/manifest.json")).parent
    bodies = recorded_results(session)
    types = [b["type"] for b in bodies]
    assert types[0] == "start" and types[-1] == "stop" and "trace" in types and "face" in types
    start, stop = bodies[0], bodies[-1]
    assert start["stream"] == "face" and start["fps"] == 30 and start["latency_s"] > 0
    assert stop["analysed"] == stop["received"] > 150
    # every frame the camera recorded after the analyzer's first was analysed, or reported missing
    gaps = [b for b in bodies if b["type"] == "gap"]
    assert stop["gaps"] == len(gaps)
    rep = analyze_session(session, start_seq=start["first_seq"])
    cmp = compare_live(rep["events"], bodies)
    if not gaps:
        assert cmp["identical"], cmp
    # the demo's end-of-session comparison works on a recorded session
    result = compare_with_script(session)
    assert result["source"] == "live" and "micro" in result["spotting"] and "spotting vs script" in result["summary"]
    # and the command line says the same
    out = mestudio("analyze", str(session), "--json", timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    rep2 = json.loads(out.stdout)
    if not gaps:
        assert rep2["live"]["identical"]
    assert "script" in rep2


@pytest.mark.slow
def test_analyzer_on_a_stream_that_does_not_exist_fails_with_a_clear_line(tmp_path):
    cfg = write_config(tmp_path / "bad.toml", CONFIG.replace("enabled = true", 'enabled = true\nstream = "nope"'))
    r = mestudio("run", str(cfg), "--duration", "3", "--out", str(tmp_path / "out"), "--quiet", timeout=120)
    logs = list((tmp_path / "out").glob("*/logs/analyzer.log"))
    text = (logs[0].read_text() if logs else "") + r.stderr
    # refused before a session folder exists (preflight), naming the stream and the ones there are
    assert r.returncode == 2 and not logs, text
    assert "[analyzer] stream: no enabled device publishes a stream 'nope' (streams of this session: " in text
