"""The transport bench's steadiness tools: equal bytes per measurement, pinned cores, CPU per MB.

No speed is asserted (benches print figures; tests do not time anything): only that one real
measurement between two processes counts every frame, reports both sides' CPU and gives the
bench process its cores back.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from mestudio.benches import transport


def test_the_schedule_measures_every_kind_each_round_in_a_balanced_order():
    kinds = list(transport.SIZES)
    order = transport.schedule(kinds, transport.ROUNDS)
    assert transport.ROUNDS % 2 == 0 and len(order) == transport.ROUNDS * len(kinds) * 2
    for r in range(transport.ROUNDS):
        this = [(k, v) for rr, k, v in order if rr == r]
        assert sorted(this) == sorted((k, v) for k in kinds for v in ("real", "raw"))
        for i in range(0, len(this), 2):  # a kind's two variants back to back
            assert this[i][0] == this[i + 1][0] and this[i][1] != this[i + 1][1]
    firsts = [next(k for rr, k, _ in order if rr == r) for r in range(transport.ROUNDS)]
    assert all(firsts.count(k) == transport.ROUNDS // len(kinds) for k in kinds)
    for k in kinds:  # mestudio measured first in half of each kind's rounds
        leading = [v for i, (_, kk, v) in enumerate(order) if kk == k and i % 2 == 0]
        assert leading.count("real") == leading.count("raw") == transport.ROUNDS // 2


def test_every_frame_size_moves_about_the_same_bytes():
    mbs = []
    for shape, dtype in transport.SIZES.values():
        n = transport.frames_per_measurement(shape, dtype, quick=False)
        mbs.append(n * np.dtype(dtype).itemsize * float(np.prod(shape)) / 1e6)
    assert max(mbs) / min(mbs) < 1.01 and min(mbs) == pytest.approx(transport.MB_PER_MEASUREMENT, rel=0.01)
    assert transport.frames_per_measurement((10000, 10000), np.uint8, quick=True) == 100  # never fewer


@pytest.mark.slow
def test_one_measurement_counts_every_frame_and_both_sides_cpu():
    before = os.sched_getaffinity(0)
    m = transport.measure((240, 320), np.uint8, 400, None, True, "test")
    assert os.sched_getaffinity(0) == before
    assert m["frames"] == 400 and m["lost"] == 0
    assert m["pinned"] == (len(before) >= 2)
    timed = 400 - int(400 * transport.WARMUP_FRACTION)
    assert m["timed_mb"] == pytest.approx(timed * 240 * 320 / 1e6)
    assert m["MB_per_s"] > 0 and m["receiver_cpu_s"] > 0 and m["sender_cpu_s"] > 0
