"""`bench monitor`'s read-back: a phase's frames from the recorder's own index, and the RAM freed.

The session is written by the real SessionWriter (the recorder's writer); the figures are checked
against what the test wrote into it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mestudio.benches._rig_load import free_written, read_phase
from mestudio.config.loader import bundled_config, load_session_config
from mestudio.session_plan import create_session
from mestudio.stream import wire
from mestudio.stream.session_writer import SessionWriter

SHAPE = (24, 32)


def _session(tmp_path, frames: int, late_ms: float):
    cfg = bundled_config("demo.toml")
    root = create_session(load_session_config(cfg), Path(cfg).read_text(), out=tmp_path)
    w = SessionWriter(root)
    for sid in ("cam0", "cam1"):
        s = w.stream(sid, "|u1", SHAPE, "mono8")
        for seq in range(frames):
            s.append(seq, None, wire.now_ns() - int(late_ms * 1e6), np.full(SHAPE, seq, np.uint8).tobytes())
    w.flush()
    return root, w


def test_a_phase_is_read_back_from_the_index_with_its_lag_and_what_is_missing(tmp_path):
    root, w = _session(tmp_path, 10, late_ms=5.0)
    rec = read_phase(root, ["cam0", "cam1"], [3, 3], [10, 10], timeout_s=5)
    assert rec.frames == rec.expected == 14 and rec.seq_ok
    assert rec.mb == pytest.approx(14 * SHAPE[0] * SHAPE[1] / 1e6)
    assert rec.lag_ms()["p50"] >= 5.0 and rec.mb_per_s() > 0
    # one frame never written: counted once the wait runs out, not waited for forever
    short = read_phase(root, ["cam0", "cam1"], [3, 3], [11, 10], timeout_s=0.2)
    assert short.expected == 15 and short.frames == 14 and not short.seq_ok
    w.close()


def test_freeing_a_phase_empties_the_frames_and_keeps_the_index(tmp_path):
    root, w = _session(tmp_path, 4, late_ms=0.0)
    w.close()
    free_written(root, ["cam0", "cam1", "never-created"])
    for sid in ("cam0", "cam1"):
        assert (root / "streams" / sid / "frames.bin").stat().st_size == 0
    assert read_phase(root, ["cam0", "cam1"], [0, 0], [4, 4], timeout_s=1).frames == 8
