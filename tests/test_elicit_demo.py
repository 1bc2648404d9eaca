"""`mestudio elicit config/demo-protocol.toml` end to end, headless: the markers are the protocol."""

from __future__ import annotations

import pytest

from mestudio.elicit.protocol import load_protocol
from tests.conftest import ROOT
from tests.elicit_fixtures import elicit_cli, expected_events, markers, observed_events

pytestmark = [pytest.mark.gui, pytest.mark.slow]

HANG_S = 15.0  # longer than asked by this much: a hang, not a busy machine


def test_demo_protocol_end_to_end(tmp_path, clip_cache, no_sound):
    out = tmp_path / "out"
    r = elicit_cli(
        "config/demo-protocol.toml",
        "--headless",
        "--autostart",
        "--simulate-participant",
        "--participant",
        "P02",
        "--hold-end",
        "0.1",
        "--out",
        str(out),
        env=no_sound,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    recs = markers(next(out.glob("elicit_demo_P02_*.jsonl")))
    proto = load_protocol(ROOT / "config" / "demo-protocol.toml")
    assert observed_events(recs) == expected_events(proto, "P02")
    order = [r["body"]["clip"] for r in recs if r["body"]["event"] == "clip_onset" and not r["body"]["trial"]]
    assert order == [c.id for c in proto.ordered_clips("P02")] != [c.id for c in proto.clips]
    for on, off in zip(*[[x for x in recs if x["body"]["event"] == e] for e in ("clip_onset", "clip_offset")]):
        clip = {c.id: c for c in proto.all_clips()}[on["body"]["clip"]]
        # never cut short; the upper bound only catches a hang: a loaded CI machine starved the window's
        # event loop for over 2 s (timing figures: mestudio bench elicit)
        assert clip.duration_s - 0.05 < (off["host_time_ns"] - on["host_time_ns"]) / 1e9 < clip.duration_s + HANG_S
        assert off["body"]["frames_shown"] + off["body"]["frames_dropped"] == round(clip.duration_s * 30)
    breaks = zip(*[[x for x in recs if x["body"]["event"] == e] for e in ("break_start", "break_end")])
    brk = proto.protocol.break_s
    assert all(brk - 0.05 < (b["host_time_ns"] - a["host_time_ns"]) / 1e9 < brk + HANG_S for a, b in breaks)
