"""Clock models: lower-hull line fit, offline stream fits with drops and resets, online model."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.sync.clock import OnlineClock, find_breaks, fit_stream
from mestudio.sync.linefit import fit_lower_line
from mestudio.sync.simulate import simulate_rig, simulate_stream


def test_lower_line_recovers_offset_and_drift_under_one_sided_jitter():
    rng = np.random.default_rng(0)
    x = np.arange(20000) * 16.67e6
    y = 5e6 + 1e-4 * x + rng.exponential(2e6, len(x))
    a, b = fit_lower_line(x, y)
    assert abs(a - 5e6) < 2e3  # 2 us of a 2 ms jitter
    assert abs(b - 1e-4) < 1e-9


def test_one_impossibly_early_point_does_not_tilt_the_line():
    rng = np.random.default_rng(1)
    x = np.arange(3000) * 16.67e6
    y = 1e-4 * x + rng.exponential(2e6, len(x))
    clean = fit_lower_line(x, y)
    y[1500] -= 80e6  # a frame stamped 80 ms before it could have been made
    a, b = fit_lower_line(x, y)
    assert (a, b) == clean
    assert abs(a) < 1e4 and abs(b - 1e-4) < 1e-6


def test_fit_of_a_simulated_rig_is_within_a_tenth_of_a_millisecond():
    for s in simulate_rig(60.0, seed=3):
        host_before = s.host_ns.copy()
        f = fit_stream(s.stream_id, s.seq, s.host_ns, s.device_ns, s.rate_hz)
        err = (f.corrected_ns - s.truth_ns) / 1e6
        assert np.sqrt(np.mean(err**2)) < 0.05, s.stream_id
        assert np.max(np.abs(err)) < 0.1, s.stream_id
        np.testing.assert_array_equal(s.host_ns, host_before)  # raw timestamps are never changed
        expected_drops = int(np.sum(np.diff(s.seq)[np.diff(s.seq) > 1] - 1))
        assert f.dropped == expected_drops
        assert f.breaks == (1 if s.reset_at is not None else 0), s.stream_id
        if s.reset_at is not None:
            assert f.segments[1].start == s.reset_at
        # health is plain JSON-able numbers; drift is reported as the device clock's rate error
        h = f.health()
        assert isinstance(h["offset_ms"], float) and abs(h["drift_ppm"] - s.drift_ppm) < 1.0


def test_a_clock_jump_with_a_continuing_counter_is_a_break():
    seq = np.arange(100)
    x = seq * 16.67e6
    x[60:] += 3e9  # the device clock jumped 3 s ahead
    assert find_breaks(seq, x, 16.67e6).tolist() == [60]


def test_dropped_frames_are_not_breaks():
    seq = np.array([0, 1, 2, 5, 6, 9])
    x = seq * 16.67e6
    assert find_breaks(seq, x, 16.67e6).tolist() == []


def test_stream_without_device_clock_is_placed_by_its_counter():
    s = simulate_stream("webcam", 30.0, 40.0, rng=np.random.default_rng(5), has_device_time=False)
    f = fit_stream("webcam", s.seq, s.host_ns, None, 30.0)
    assert not f.uses_device_time
    assert np.sqrt(np.mean(((f.corrected_ns - s.truth_ns) / 1e6) ** 2)) < 0.05
    with pytest.raises(ValueError, match="nominal rate"):
        fit_stream("webcam", s.seq, s.host_ns, None, None)


def test_long_segments_follow_a_drift_that_changes():
    # the drift goes from +100 to -100 ppm over 20 minutes (a crystal warming up, exaggerated)
    rng = np.random.default_rng(2)
    n = 20 * 60 * 30
    t = np.arange(n) / 30 * 1e9
    drift = 100e-6 - 200e-6 * t / t[-1]
    dev = np.cumsum(np.concatenate([[0], np.diff(t) * (1 + drift[1:])]))
    host = t + rng.exponential(2e6, n)
    f = fit_stream("cam", np.arange(n), host.astype(np.int64), dev.astype(np.int64), 30.0, window_s=60)
    assert np.sqrt(np.mean(((f.corrected_ns - t) / 1e6) ** 2)) < 0.1
    # a single line over the whole segment cannot do that
    one = fit_stream("cam", np.arange(n), host.astype(np.int64), dev.astype(np.int64), 30.0, window_s=1e6)
    assert np.sqrt(np.mean(((one.corrected_ns - t) / 1e6) ** 2)) > 1.0


def test_online_model_converges_and_counts_drops_and_resets():
    s = simulate_stream("face", 60.0, 40.0, rng=np.random.default_rng(4), reset_at_s=20.0, offset_s=99.0)
    oc = OnlineClock("face", 60.0, window_s=30.0)
    out = np.array([oc.add(int(q), int(h), int(d)) for q, h, d in zip(s.seq, s.host_ns, s.device_ns)])
    err = np.abs(out - s.truth_ns) / 1e6
    assert oc.breaks == 1
    assert oc.dropped == int(np.sum(np.diff(s.seq)[np.diff(s.seq) > 1] - 1))
    # after a few seconds in each segment the causal estimate is as good as 0.1 ms
    settled = np.ones(len(err), bool)
    settled[: 5 * 60] = False
    settled[s.reset_at : s.reset_at + 5 * 60] = False
    assert np.sqrt(np.mean(err[settled] ** 2)) < 0.1
    h = oc.health()
    assert h["breaks"] == 1 and h["frames"] == len(s.seq)
