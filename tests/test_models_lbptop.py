"""LBP-TOP: codes against scikit-image's LBP on the XY plane; feature layout; motion sensitivity."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.analysis.models.lbptop import BINS, LUT, lbp_top_codes, lbp_top_features


def test_59_uniform_bins_for_8_neighbours():
    assert BINS == 59
    assert LUT[0] != LUT[255] and LUT[0b01010101] == BINS - 1  # 8 transitions: the non-uniform bin


def test_xy_plane_matches_scikit_image_up_to_bin_naming():
    from skimage.feature import local_binary_pattern

    rng = np.random.default_rng(0)
    v = rng.integers(0, 255, (5, 24, 24)).astype(np.uint8)
    ours = lbp_top_codes(v, (1, 1, 2))[0][0]  # frame 2 (T radius 2)
    ref = local_binary_pattern(v[2], 8, 1, "nri_uniform")[1:-1, 1:-1].astype(int)
    pairs = set(zip(ref.ravel().tolist(), ours.ravel().tolist()))
    # one of ours for each of theirs and back: the same patterns, named differently
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_feature_length_and_normalised_histograms():
    clip = np.random.default_rng(1).integers(0, 255, (10, 60, 60)).astype(np.uint8)
    f = lbp_top_features(clip, blocks=5, radii=(1, 1, 2))
    assert f.shape == (5 * 5 * 3 * 59,)
    assert np.allclose(f.reshape(75, 59).sum(axis=1), 1.0)


def test_temporal_planes_see_motion_that_xy_does_not():
    rng = np.random.default_rng(2)
    still = np.repeat(rng.integers(0, 255, (1, 30, 30)), 10, axis=0).astype(np.uint8)
    moving = np.stack([np.roll(still[0], i, axis=1) for i in range(10)])
    fs = lbp_top_features(still, 1).reshape(3, 59)
    fm = lbp_top_features(moving, 1).reshape(3, 59)
    assert np.abs(fs[0] - fm[0]).sum() < 0.2  # same texture in each frame
    assert np.abs(fs[1] - fm[1]).sum() > 0.5  # XT plane: horizontal motion


def test_too_short_clip_is_explained():
    with pytest.raises(ValueError, match="interpolate"):
        lbp_top_features(np.zeros((3, 20, 20), np.uint8))
