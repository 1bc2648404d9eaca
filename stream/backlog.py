"""How far behind its producers the recorder is, what that costs, and a disk made slow on purpose.

Measures only: the recorder (stream/recorder.py) decides what to note on the timeline and in its
status, and viewers read the same figures from its ``recorder/status`` messages.
"""

from __future__ import annotations

import os
import threading
import time

BEHIND_S = 1.0  # a backlog past this is noted in the log and the timeline (and its end too)


class Backlog:
    """Seconds behind, per stream: a frame's wait from its host stamp to its write, less the
    shortest wait seen on that stream (the transport's floor; it also cancels a remote host's
    clock offset, so no clock needs to be trusted here)."""

    def __init__(self) -> None:
        self._floor: dict[str, int] = {}
        self._last: dict[str, int] = {}
        self._span: dict[str, tuple[int, int, int]] = {}  # stream -> first host stamp, last, bytes since
        self.max_s = 0.0

    def saw(self, stream_id: str, wait_ns: int, host_ns: int = 0, nbytes: int = 0) -> None:
        first, _, total = self._span.get(stream_id, (host_ns, host_ns, -nbytes))  # the first frame: no span
        self._span[stream_id] = (first, host_ns, total + nbytes)
        floor = self._floor.get(stream_id)
        if floor is None or wait_ns < floor:
            self._floor[stream_id] = floor = wait_ns
        behind = wait_ns - floor
        self._last[stream_id] = behind
        if behind > self.max_s * 1e9:
            self.max_s = behind / 1e9

    def of_s(self, stream_id: str) -> float:
        return self._last.get(stream_id, 0) / 1e9

    def worst_s(self) -> float:
        return max(self._last.values(), default=0) / 1e9

    def queued_mb(self) -> float:
        """What waits in the queue, estimated: each stream's backlog times the rate its producer
        stamps frames at (bytes over host-stamp span; the queue itself cannot be asked)."""
        mb = 0.0
        for sid, (first, last, total) in self._span.items():
            if last > first:
                mb += self.of_s(sid) * total / ((last - first) / 1e9) / 1e6
        return mb


def available_mb() -> float:
    """Memory the machine can still give (Linux MemAvailable; 0 where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1e3
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def shed_bound_mb(configured: float | None) -> float:
    """``recorder.shed_above_mb`` as the recorder applies it: None is half the memory available
    now (0, no bound, where that cannot be read)."""
    return configured if configured is not None else available_mb() / 2


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc; 0 where there is none)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


class WriteThrottle:
    """A disk slower than ours, for real: after each batch, wait until the bytes written since the
    first frame would have taken ``mb_per_s`` (config ``recorder.write_mb_per_s``; 0 = off).  The
    tests use it to make the recorder truly fall behind its producers; no session should set it."""

    def __init__(self, mb_per_s: float) -> None:
        self.bytes_per_s = mb_per_s * 1e6
        self.started: float | None = None  # when the first bytes were written

    def hold(self, bytes_written: int, stop: threading.Event) -> bool:
        """True (after waiting up to 0.1 s) while the slow disk would still be busy: do not write."""
        if self.bytes_per_s <= 0 or stop.is_set() or not bytes_written:  # stopping: drain at full speed
            return False
        if self.started is None:
            self.started = time.monotonic()
        left = self.started + bytes_written / self.bytes_per_s - time.monotonic()
        if left <= 0:
            return False
        stop.wait(min(left, 0.1))  # short waits: the loop still flushes and reports on time
        return True


def past_bound(backlog_s: float, queued_mb: float, max_backlog_s: float, max_backlog_mb: float) -> bool:
    """Whether the backlog is past ``recorder.max_backlog_s`` or ``max_backlog_mb`` (0: no bound)."""
    return (max_backlog_s > 0 and backlog_s > max_backlog_s) or (max_backlog_mb > 0 and queued_mb > max_backlog_mb)
