"""Spotting: MDMD and LBP spotters on synthetic moving crops; intervals, classes, latency."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.analysis.spotting import IntervalDetector, LBPSpotter, MDMDSpotter, classify, make_spotter
from mestudio.analysis.spotting.features import LBPFeature, MDMDFeature, chi2_blocks, top_mean
from tests.analysis_fixtures import moving_crops

FPS = 60.0


def run(spotter, crops):
    ivs, scored = [], []
    for i, c in enumerate(crops):
        s, out = spotter.push(c, i / FPS)
        ivs += out
        if s is not None:
            scored.append((i, s))
    return ivs + spotter.flush(), scored


def test_durations_classify_as_the_study():
    assert classify(0.2) == "micro" and classify(0.499) == "micro"
    assert classify(0.5) == "macro" and classify(4.0) == "macro"
    assert classify(4.01) == "static"


@pytest.mark.parametrize("cls", [MDMDSpotter, LBPSpotter])
def test_spotter_finds_a_micro_movement_and_nothing_in_stillness(cls):
    crops = moving_crops([(3.0, 3.3, 3.0)], seconds=5.0)
    ivs, _ = run(cls(FPS), crops)
    assert len(ivs) == 1, [(i.onset_s, i.offset_s) for i in ivs]
    iv = ivs[0]
    assert iv.kind == "micro"
    assert 2.95 <= iv.onset_s <= 3.15 and 3.1 <= iv.apex_s <= 3.25 and 3.15 <= iv.offset_s <= 3.4
    still, _ = run(cls(FPS), moving_crops([], seconds=5.0, seed=1))
    assert still == []


def test_latency_is_bounded_and_stated():
    m, lbp = MDMDSpotter(FPS), LBPSpotter(FPS)
    assert m.latency_frames == m.k == 12 and lbp.latency_frames == 24
    crops = moving_crops([(3.0, 3.3, 3.0)], seconds=5.0)
    # the interval must come out no later than latency_s after its offset
    for sp in (MDMDSpotter(FPS), LBPSpotter(FPS)):
        for i, c in enumerate(crops):
            _, out = sp.push(c, i / FPS)
            if out:
                assert i / FPS - out[0].offset_s <= sp.latency_s() + 1e-9
                break
        else:
            pytest.fail(f"{sp.method}: no interval")


def test_scores_are_causal_with_fixed_delay():
    sp = MDMDSpotter(FPS)
    crops = moving_crops([], seconds=1.0)
    for i, c in enumerate(crops):
        s, _ = sp.push(c, i / FPS)
        if i < 2 * sp.k:
            assert s is None
        else:
            assert s.frame == i - sp.k and s.t == pytest.approx((i - sp.k) / FPS)


@pytest.mark.parametrize("pixels", [0.5, 3.0, 10.0])
def test_composed_head_to_tail_flow_scores_as_the_direct_one(pixels):
    """One flow a frame (the default) against the MEGC baseline's two: a local movement of up to
    10 px in the 150 px crop (5 px in the 72 px work image) scores the same frame by frame and
    gives the same interval; the scores are independent estimates, not one copied into the other."""
    crops = moving_crops([(3.0, 3.3, pixels)], seconds=5.0)
    (iv_d, sc_d), (iv_c, sc_c) = (run(MDMDSpotter(FPS, compose=c), crops) for c in (False, True))
    assert [s.frame for _, s in sc_d] == [s.frame for _, s in sc_c]  # same warm-up and delay
    d, c = (np.array([s.score for _, s in sc]) for sc in (sc_d, sc_c))
    assert np.corrcoef(d, c)[0, 1] > 0.98 and not np.array_equal(d, c)
    assert d.max() == pytest.approx(c.max(), rel=0.1)
    assert len(iv_d) == len(iv_c) == 1
    assert iv_c[0].apex == iv_d[0].apex and abs(iv_c[0].offset - iv_d[0].offset) <= 2


def test_quiet_statistics_refresh_ten_times_a_second_also_once_the_window_is_full():
    """The blocks' quiet centre and spread are recomputed every fps/10 quiet frames; a count by
    the window's length stopped moving once the window was full and recomputed them every frame
    (a 10 s window of 36 blocks: a millisecond a frame after the first 10 s of every session)."""

    class Counting(MDMDSpotter):
        refreshes = 0

        def _refresh_quiet(self) -> None:
            Counting.refreshes += 1
            super()._refresh_quiet()

    sp = Counting(FPS, window_s=0.5)  # a 30-frame window, full after half a second
    run(sp, moving_crops([], seconds=3.0, seed=2))
    quiet = sp._quiet_added
    assert quiet > 3 * sp._quiet_blocks.maxlen  # the window has long been full
    # every 6th quiet frame from the 10th on (the first statistics need 10 frames)
    assert Counting.refreshes == len([n for n in range(10, quiet + 1) if n % sp._refresh_every == 0])


def test_detector_classifies_and_excludes_static():
    det = IntervalDetector(10.0, warmup_s=1.0, close_s=0.1)
    rng = np.random.default_rng(0)
    scores = list(rng.uniform(-1, 1, 50))
    scores += [20.0] * 3 + list(rng.uniform(-1, 1, 20))  # 0.2 s -> micro
    scores += [20.0] * 10 + list(rng.uniform(-1, 1, 20))  # 0.9 s -> macro
    scores += [20.0] * 45 + list(rng.uniform(-1, 1, 20))  # 4.4 s -> static, excluded
    out = []
    for i, s in enumerate(scores):
        out += det.push(i, i / 10.0, float(s))
    out += det.flush()
    assert [iv.kind for iv in out] == ["micro", "macro"]
    assert det.static_excluded == 1


def test_nothing_is_reported_during_warmup():
    det = IntervalDetector(10.0, warmup_s=2.0)
    assert all(det.push(i, i / 10, 50.0) == [] for i in range(15))


def test_mdmd_blocks_see_local_motion_in_its_main_direction():
    feat = MDMDFeature(72)
    flow_cf = np.zeros((72, 72, 2), np.float32)
    flow_cf[:12, :12, 1] = -2.0  # block 0 moves up
    d = feat.blocks(flow_cf, np.zeros_like(flow_cf))
    assert d[0] == pytest.approx(2.0) and np.all(d[1:] == 0)
    # the same motion still present at the tail frame: a slow drift, not a peak
    assert feat.blocks(flow_cf, flow_cf)[0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="multiple"):
        MDMDFeature(75)


def test_lbp_histograms_and_chi2():
    feat = LBPFeature(72)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (72, 72), dtype=np.uint8)
    h = feat(img)
    assert h.shape == (36, 59) and np.allclose(h.sum(1), 1)
    assert np.allclose(chi2_blocks(h, h), 0)
    assert chi2_blocks(h, feat(255 - img)).min() > 0
    assert top_mean(np.arange(9.0), 1 / 3) == pytest.approx(7.0)


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="mdmd, lbp"):
        make_spotter("optical", FPS)


def test_the_flows_median_is_numpys_to_the_bit():
    from mestudio.analysis.spotting.features import _median_xy

    rng = np.random.default_rng(7)
    for shape in ((72, 72, 2), (9, 9, 2), (7, 5, 2), (1, 1, 2)):  # even and odd pixel counts
        for _ in range(50):
            f = (rng.normal(size=shape) * rng.uniform(0.01, 5)).astype(np.float32)
            assert np.array_equal(_median_xy(f), np.median(f.reshape(-1, 2), axis=0))
