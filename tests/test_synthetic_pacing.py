"""The synthetic devices' clock: it starts at the first read, and a reader that fell behind gets
every frame late instead of losing them (up to SYNTHETIC_MAX_LAG_S); past that, drops are counted.

A stall is made by moving the pacer's clock back (what a starved process sees when it runs
again), not by sleeping: nothing here depends on how busy the machine is.
"""

from __future__ import annotations

from mestudio.capture.base import Pacer
from mestudio.capture.registry import create_device
from mestudio.capture.synthetic import SYNTHETIC_MAX_LAG_S
from mestudio.config import schema as S


def test_the_clock_starts_at_the_first_read_not_at_start():
    p = Pacer(100.0)
    p.start()
    p.t0_ns -= 3_000_000_000  # the node took 3 s to reach its first read
    assert p.wait(0.5) == 0 and p.skipped == 0
    assert p.wait(0.5) == 1  # and goes on from there, on time


def test_a_reader_past_the_bound_loses_the_ticks_it_missed_counted():
    p = Pacer(100.0, max_lag_s=0.5)
    p.start()
    assert p.wait(0.5) == 0
    p.t0_ns -= 2_000_000_000  # 2 s behind, the bound is 0.5 s
    tick = p.wait(0.5)
    assert tick is not None and tick >= 199 and p.skipped == tick - 1


def test_a_synthetic_camera_behind_by_a_second_and_a_half_delivers_every_frame():
    assert SYNTHETIC_MAX_LAG_S > 1.5
    spec = S.SyntheticCamera(name="cam", kind="synthetic-camera", width=64, height=48, fps=50)
    dev = create_device(spec)
    seqs: list[int] = []
    with dev:
        seqs += [f.seq for f in dev.read(1.0)]
        dev.pacer.t0_ns -= 1_500_000_000  # a stall of 1.5 s after the first frame (75 ticks)
        while not seqs or seqs[-1] < 100:
            seqs += [f.seq for f in dev.read(1.0)]
        dropped = dev.dropped
    assert seqs == list(range(len(seqs))) and dropped == 0
