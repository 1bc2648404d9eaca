"""Frame sets offline and live: nearest frames within tolerance, missing ones marked."""

from __future__ import annotations

import numpy as np

from mestudio.sync.framesets import MISSING, FrameSetBuilder, build


def _grid(rate, n, start=0.0, drop=()):
    seq = np.array([k for k in range(n) if k not in drop])
    return seq, np.rint(start + seq * 1e9 / rate).astype(np.int64)


def test_reference_drops_become_marked_instants():
    ref = _grid(60, 10, drop=(3, 4))
    fs = build({"cam": ref, "kin": _grid(30, 5, start=1e6)}, "cam")
    assert len(fs) == 10
    assert fs.seq["cam"].tolist() == [0, 1, 2, MISSING, MISSING, 5, 6, 7, 8, 9]
    # instants of the dropped frames are placed by the counter
    assert fs.time_ns[3] == round(3e9 / 60)
    # the 30 Hz frame covering each 60 Hz instant (kin frame k is at 2k)
    assert fs.seq["kin"].tolist()[:6] == [0, 0, 1, 1, 2, 2]


def test_a_lost_frame_of_another_stream_is_missing_not_replaced():
    fs = build({"cam": _grid(60, 6), "side": _grid(60, 6, start=2e6, drop=(2,))}, "cam")
    assert fs.seq["side"].tolist() == [0, 1, MISSING, 3, 4, 5]
    assert fs.summary()["missing"] == {"cam": 0, "side": 1}
    assert fs.summary()["complete"] == 5


def test_explicit_tolerance_is_respected():
    fs = build({"cam": _grid(60, 4), "late": _grid(60, 4, start=5e6)}, "cam", tolerance_ns=4e6)
    assert fs.seq["late"].tolist() == [MISSING] * 4


def test_live_sets_equal_offline_sets():
    cam, side = _grid(60, 120), _grid(60, 120, start=3e6, drop=(7, 50))
    kin = _grid(30, 60, start=1e6)
    off = build({"cam": cam, "side": side, "kin": kin}, "cam")
    live = FrameSetBuilder("cam", ["cam", "side", "kin"], {"cam": 0.5e9 / 60, "side": 0.5e9 / 60, "kin": 0.5e9 / 30})
    events = sorted(
        [(t, "cam", q) for q, t in zip(*cam)]
        + [(t, "side", q) for q, t in zip(*side)]
        + [(t, "kin", q) for q, t in zip(*kin)]
    )
    sets = []
    for t, name, q in events:
        live.add(name, int(q), int(t))
        sets += live.take(int(t))
    sets += live.take(int(10e9))  # past every deadline
    assert len(sets) == len(off)
    for k in ("cam", "side", "kin"):
        assert [s["frames"][k] for s in sets] == off.seq[k].tolist(), k
