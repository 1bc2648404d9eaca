"""When and why a recording fell behind: the recorder's backlog over time, and who had the CPU.

The backlog of every frame is read back from the session's own index (``recv_time_ns`` is when
the recorder took the frame, ``host_time_ns`` when the device node stamped it): the same measure
as the recorder's (stream/backlog.py: the wait less the stream's shortest), for every frame
rather than at each flush.  Beside it, sampled once a second while the session runs: each
recorder thread's CPU and its run-queue wait (``/proc/PID/task/*/schedstat``: runnable but not
running), and how many of the machine's cores were busy.  A recorder that waits in the run
queue for a CPU is starved; one that runs for most of a second is CPU-bound; one that does
neither while it falls behind waits on the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mestudio.benches._procs import thread_schedstat


def backlog_profile(session_dir: Path, t0_ns: int) -> dict:
    """Per-frame backlog of every stream of a recorded session, summarised in time.

    ``t0_ns`` (host monotonic clock) is when the session was started: times are seconds since."""
    from mestudio.stream.session_reader import SessionReader

    reader = SessionReader(session_dir)
    per_stream: dict[str, dict] = {}
    stamps, backlogs, received = [], [], []
    for sid in reader.stream_ids():
        ix = reader.stream(sid).index
        if not len(ix):
            continue
        host = ix["host_time_ns"].astype(np.int64)
        recv = ix["recv_time_ns"].astype(np.int64)
        wait = recv - host
        behind = (wait - wait.min()) / 1e9
        at = (host - t0_ns) / 1e9
        worst = int(behind.argmax())
        per_stream[sid] = {
            "p50_s": round(float(np.percentile(behind, 50)), 3),
            "p95_s": round(float(np.percentile(behind, 95)), 3),
            "max_s": round(float(behind[worst]), 3),
            "max_at_s": round(float(at[worst]), 2),
        }
        stamps.append(at)
        backlogs.append(behind)
        received.append((recv - t0_ns) / 1e9)
    if not stamps:
        return {"streams": {}}
    at, behind, got = np.concatenate(stamps), np.concatenate(backlogs), np.concatenate(received)
    seconds = range(int(at.min()), int(max(at.max(), got.max())) + 1)
    by_second = []
    for s in seconds:
        stamped = (at >= s) & (at < s + 1)
        by_second.append(
            {
                "t_s": s,
                "backlog_max_s": round(float(behind[stamped].max()), 3) if stamped.any() else None,
                "frames_stamped": int(stamped.sum()),
                "frames_received": int(((got >= s) & (got < s + 1)).sum()),
            }
        )
    worst = int(behind.argmax())
    return {
        "first_frame_at_s": round(float(at.min()), 2),
        "p50_s": round(float(np.percentile(behind, 50)), 3),
        "p95_s": round(float(np.percentile(behind, 95)), 3),
        "max_s": round(float(behind[worst]), 3),
        "max_at_s": round(float(at[worst]), 2),
        # seconds since the session's start: the worst backlog of a frame stamped in that second,
        # and frames stamped by the cameras vs taken by the recorder in it (all streams)
        "by_second": by_second,
        "streams": per_stream,
    }


def _thread_seconds(pid: int) -> dict[str, tuple[float, float]]:
    """name:tid -> (seconds on a CPU, seconds runnable in the run queue) of a process's threads."""
    return {k: (run / 1e9, wait / 1e9) for k, (run, wait) in thread_schedstat(pid).items()}


def _busy_cores_s() -> float:
    """CPU seconds the whole machine spent busy (not idle, not waiting on I/O), since boot."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class SchedSampler:
    """Once a second (the supervisor's progress callback): the nodes' threads and the machine."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float, dict[str, dict[str, tuple[float, float]]]]] = []

    def sample(self, pids: dict[str, int], now_s: float) -> None:
        if pids:
            self.points.append((now_s, _busy_cores_s(), {name: _thread_seconds(pid) for name, pid in pids.items()}))

    def summary(self) -> dict:
        """Per node and thread (named as the kernel names them, same names summed): cores used
        and seconds waited in the run queue per second, over the run; and the machine's busy cores."""
        if len(self.points) < 2:
            return {}
        (t0, busy0, first), (t1, busy1, last) = self.points[0], self.points[-1]
        dt = t1 - t0
        out: dict = {"machine_busy_cores": round((busy1 - busy0) / dt, 2)}
        for node, now in last.items():
            threads: dict[str, dict[str, float]] = {}
            for key, (run, wait) in now.items():
                run0, wait0 = first.get(node, {}).get(key, (0.0, 0.0))
                if run - run0 < 0.01 * dt:
                    continue  # idle threads (pyzmq's, the sync pool's between syncs) say nothing
                t = threads.setdefault(key.split(":")[0], {"cores": 0.0, "runqueue_wait_s_per_s": 0.0})
                t["cores"] = round(t["cores"] + (run - run0) / dt, 3)
                t["runqueue_wait_s_per_s"] = round(t["runqueue_wait_s_per_s"] + (wait - wait0) / dt, 3)
            out[f"{node}_threads"] = threads
        return out
