"""The transport bench's steadiness tools: equal bytes per block, long-lived senders, pinned cores, CPU per MB.

No speed is asserted (benches print figures; tests do not time anything): only that the blocks
between two real processes count every frame, report both sides' CPU and give the bench process
its cores back.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import zmq

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


def test_every_frame_size_moves_about_the_same_bytes_a_block():
    mbs = []
    for shape, dtype in transport.SIZES.values():
        n = transport.frames_per_block(shape, dtype)
        mbs.append(n * np.dtype(dtype).itemsize * float(np.prod(shape)) / 1e6)
    assert max(mbs) / min(mbs) < 1.05 and min(mbs) == pytest.approx(transport.BLOCK_MB, rel=0.05)
    assert transport.frames_per_block((10000, 10000), np.uint8, quick=True) == 8  # never fewer


@pytest.mark.slow
@pytest.mark.parametrize("real", [True, False])
def test_a_block_sender_times_every_frame_of_each_block_with_both_sides_cpu(real):
    ctx = zmq.Context()
    sender = transport.BlockSender(ctx, (240, 320), np.uint8, real, f"test{real}", None)
    try:
        blocks = [sender.block(n) for n in (40, 12, 40)]
    finally:
        sender.close()
        ctx.destroy(linger=0)
    assert not sender.proc.is_alive()
    for b, n in zip(blocks, (40, 12, 40)):  # the first frame of a block starts its clock
        assert b.extra["lost"] == 0 and b.mb == pytest.approx((n - 1) * 240 * 320 / 1e6)
        assert b.wall_s > 0 and b.extra["receiver_cpu_ms_per_MB"] > 0 and b.extra["sender_cpu_ms_per_MB"] > 0


def test_the_bench_process_gets_its_cores_back_after_the_rounds(monkeypatch):
    before = os.sched_getaffinity(0)
    monkeypatch.setattr(transport, "SIZES", {"small": ((60, 80), np.uint8)})
    monkeypatch.setattr(transport, "WARMUP_ROUNDS", 1)
    got = transport._rounds(quick=True, rounds=2)
    assert os.sched_getaffinity(0) == before
    assert [len(got["small"][v]) for v in ("real", "raw")] == [2, 2]
    assert all(s.extra["lost"] == 0 for v in ("real", "raw") for s in got["small"][v])
