"""The capture bench's backlog profile: read from a session's own index, checked against the
receive times this test wrote (a recorder 0.3 s behind in the second second, caught up after)."""

from __future__ import annotations

import os
import time

import numpy as np

from mestudio.benches._backlog_profile import SchedSampler, backlog_profile
from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_writer import SessionWriter

S = 1_000_000_000


def test_profile_says_when_the_recorder_was_behind_and_by_how_much(tmp_path):
    write_json_atomic(tmp_path / "manifest.json", {"format": "mestudio-session", "status": "recording"})
    w = SessionWriter(tmp_path)
    t0 = 100 * S
    frame = np.zeros((4, 4), np.uint8)
    for sid, transport_ns in (("a", 2_000_000), ("b", 5_000_000)):  # each stream's own floor
        st = w.stream(sid, "|u1", (4, 4), "mono8")
        for i in range(30):  # 10 frames a second, for 3 s from t0 + 1 s
            host = t0 + S + i * S // 10
            behind = 300_000_000 if 10 <= i < 20 else 0  # the second second: 0.3 s behind
            st.append(i, None, host, frame, host + transport_ns + behind)
    w.flush()
    w.close()
    p = backlog_profile(tmp_path, t0)
    assert p["max_s"] == 0.3 and 2.0 <= p["max_at_s"] < 3.0 and p["first_frame_at_s"] == 1.0
    rows = {r["t_s"]: r for r in p["by_second"]}
    assert rows[1]["backlog_max_s"] == 0.0 and rows[2]["backlog_max_s"] == 0.3 and rows[3]["backlog_max_s"] == 0.0
    assert rows[1]["frames_stamped"] == 20 and rows[2]["frames_stamped"] == 20
    assert sum(r["frames_received"] for r in rows.values()) == 60
    assert set(p["streams"]) == {"a", "b"} and p["streams"]["b"]["p50_s"] == 0.0


def test_sched_sampler_reads_this_process_threads():
    s = SchedSampler()
    s.sample({"me": os.getpid()}, time.perf_counter())
    end = time.thread_time() + 0.05
    while time.thread_time() < end:  # some CPU to see
        pass
    s.sample({"me": os.getpid()}, time.perf_counter())
    out = s.summary()
    assert out["me_threads"] and sum(t["cores"] for t in out["me_threads"].values()) > 0
