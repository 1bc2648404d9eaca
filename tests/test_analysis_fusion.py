"""Spotting fusion: a flow candidate under the flow's own bar is an event when the AU stream of
the face region it moved in rises and falls with it ([analyzer] fusion = "au")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mestudio.analysis.analyzer import fusion
from mestudio.analysis.analyzer.pipeline import Analyzer
from mestudio.analysis.au.intensity import FRAME_AUS
from mestudio.analysis.settings import AnalyzerSettings, load_settings
from mestudio.config.errors import ConfigError
from tests.analysis_fixtures import face_frames

FPS = 60.0
# a faint brow raise on the face rig (a real photograph deformed by the script): its flow score
# stays under the micro scale's z_high, its image brow rows still move
FAINT_RAISE = (("micro", (1, 2), 2.6, 2.72, 2.9, 0.4),)


def _events(frames, **settings) -> list[dict]:
    out = []
    with Analyzer(AnalyzerSettings(macro=False, **settings), FPS) as a:
        for i, f in enumerate(frames):
            out += a.process(f, i, i / FPS)
        out += a.finish()
    return [m for m in out if m["type"] == "event"]


def _overlaps(e: dict, on: float, off: float) -> bool:
    inter = min(e["offset_s"], off) - max(e["onset_s"], on)
    union = max(e["offset_s"], off) - min(e["onset_s"], on)
    return inter / union >= 0.5  # the MEGC protocol's match


@pytest.mark.slow
def test_a_faint_brow_raise_is_spotted_only_when_the_au_stream_agrees():
    frames = face_frames(FAINT_RAISE, seconds=4.0)
    off = _events(frames, fusion="off")
    assert not [e for e in off if _overlaps(e, 2.6, 2.9)], off  # under the flow's own bar
    on = [e for e in _events(frames, fusion="au") if _overlaps(e, 2.6, 2.9)]
    assert len(on) == 1, on
    ev = on[0]
    assert ev["kind"] == "micro" and {1, 2} & set(ev["aus"]), ev
    assert ev["fusion"]["au"] in (1, 2) and min(ev["fusion"]["rise_sigma"], ev["fusion"]["fall_sigma"]) >= 4.5


def test_the_lower_bar_is_where_two_independent_z_scores_reach_the_flows_own():
    bar = fusion.weak_z(6.0, 4.5)
    assert bar == pytest.approx(math.sqrt(2) * 6.0 - 4.5)
    assert (bar + 4.5) / math.sqrt(2) == pytest.approx(6.0)  # Stouffer's combined z at the bar
    assert fusion.weak_z(6.0, 4.5, f=0.8) == pytest.approx(4.8)
    assert fusion.weak_z(6.0, 0.1) == 6.0  # never above the flow's own bar


def _trajectory(values: list[float], au: int = 1) -> np.ndarray:
    z = np.zeros((len(values), len(FRAME_AUS)))
    z[:, FRAME_AUS.index(au)] = values
    return z


def test_an_au_must_rise_and_fall_inside_the_flows_reach():
    up_down = _trajectory([0, 0.2, 2.0, 5.5, 6.0, 5.0, 1.0, 0.1, 0])
    assert fusion.agreement(up_down, [1], 4.5)["au"] == 1
    assert fusion.agreement(up_down, [2, 4], 4.5) is None  # another region's AUs did not move
    held = _trajectory([0, 0.5, 3.0, 5.5, 6.0, 6.0, 6.2, 6.1, 6.0])  # rises, never falls: not a spot
    assert fusion.agreement(held, [1], 4.5) is None
    one_frame = _trajectory([0, 0, 0, 9.0, 0, 0, 0])  # one frame's jump of the mesh
    assert fusion.agreement(one_frame, [1], 4.5) is None
    blink = _trajectory([0, 1, 8, 9, 8, 1, 0], au=45)
    assert fusion.agreement(blink, [45], 4.5) is None  # a blink is not an expression
    dragged = up_down.copy()
    dragged[:, FRAME_AUS.index(45)] = [0, 0, 1, 6, 9, 6, 1, 0, 0]  # the brows moved with a blink
    assert fusion.agreement(dragged, [1], 4.5) is None
    assert fusion.agreement(up_down, [1], 4.5, peak_within=(3, 5))["au"] == 1
    assert fusion.agreement(up_down, [1], 4.5, peak_within=(6, 8)) is None  # not at the flow's time


def test_au_regions_follow_the_aligned_face():
    pts = np.zeros((478, 2))
    pts[:] = (75.0, 140.0)  # everything at the chin but ...
    pts[[107, 336]] = [(60.0, 40.0), (90.0, 40.0)]  # ... the inner brows, rows 25-50 of the crop
    regions = fusion.au_blocks(pts)
    assert regions[1] == {1 * 6 + 2, 1 * 6 + 3}
    assert fusion.pointed_aus((8,), regions) == [1, 4]  # the inner brows: AU1 and AU4's heads


def test_fusion_settings_are_checked():
    assert AnalyzerSettings().fusion == "off"  # the flow alone unless asked
    with pytest.raises(ConfigError, match="fusion"):
        load_settings({"fusion": "maybe"})
    with pytest.raises(ConfigError, match="fusion_flow_f"):
        load_settings({"fusion_flow_f": 1.5})


@pytest.mark.slow
def test_bench_spotting_rig_scores_both_variants_on_the_same_frames():
    from mestudio.benches.spotting_rig import rig_f1

    f = rig_f1(seeds=(0,), seconds=8.0)
    for variant in ("fusion_off", "fusion_au"):
        counts = f[variant]["seeds_0_3"]["micro"]
        assert counts["tp"] + counts["fn"] >= 1, f  # the script has a micro-expression in the scored span
        assert set(f[variant]["per_seed"]) == {"0"}
    assert f["fusion_off"]["fusion"] == {"weak_candidates": 0, "confirmed": 0}  # the flow alone
