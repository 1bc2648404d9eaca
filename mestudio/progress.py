"""Live terminal progress of a session: frames/s and drops per stream, recorder MB/s, free disk."""

from __future__ import annotations

import sys
import time
from collections import deque


class TerminalProgress:
    """Called once a second by the supervisor; one line per update (redrawn in place on a TTY)."""

    def __init__(self, stream=sys.stdout, every_s: float = 1.0) -> None:
        self.out = stream
        self.tty = stream.isatty()
        self.every_s = every_s if self.tty else max(every_s, 5.0)
        self._history: dict[str, deque] = {}
        self._last_print = 0.0

    def _rate(self, key: str, count: int, now: float, window_s: float = 3.0) -> float:
        """Rate over the last few seconds: heartbeats arrive in steps, a 1 s window would jitter."""
        h = self._history.setdefault(key, deque())
        h.append((now, count))
        while len(h) > 2 and now - h[0][0] > window_s:
            h.popleft()
        (t, n) = h[0]
        return (count - n) / (now - t) if now > t else 0.0

    def __call__(self, sup) -> None:
        now = time.monotonic()
        parts, rec = [], None
        for c in sup.children.values():
            if c.role == "recorder":
                rec = c
                continue
            if c.role != "device":
                parts += stage_summary(c.role, c.status)
                continue
            drops = c.status.get("device_dropped", 0) + c.status.get("dropped_for_recorder", 0)
            for sid, st in c.status.get("streams", {}).items():
                fps = self._rate(sid, st.get("frames", 0), now)
                parts.append(f"{sid} {fps:5.1f}fps" + (f" drop {drops}" if drops else ""))
        if rec is not None:
            mbps = self._rate("__bytes", rec.status.get("bytes", 0), now) / 1e6
            gaps = sum(s.get("gaps", 0) for s in rec.status.get("streams", {}).values())
            behind = rec.status.get("backlog_s", 0.0)  # seconds behind its producers (stream/backlog.py)
            loud = (
                " SHEDDING FRAMES"
                if rec.status.get("shedding")
                else " CANNOT KEEP UP"
                if rec.status.get("cannot_keep_up")
                else " BEHIND"
                if behind > 1.0
                else ""
            )
            parts.append(
                f"rec {mbps:6.1f} MB/s behind {behind:4.1f}s{loud} gaps {gaps} "
                f"free {rec.status.get('free_mb', 0) / 1000:.1f} GB"
            )
        if now - self._last_print < self.every_s - 0.05:
            return
        self._last_print = now
        line = f"{now - sup.started:6.1f}s | " + " | ".join(parts)
        if self.tty:
            self.out.write("\r\x1b[K" + line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


def stage_summary(role: str, st: dict) -> list[str]:
    """One short item for a stage node's heartbeat (what the experimenter wants at a glance)."""
    if role == "analyzer" and "events" in st:
        return [f"analyzer {st['events']} events" + (f" GAPS {st['gaps']}" if st.get("gaps") else "")]
    if role == "sync" and "chirps" in st:
        return [f"sync {st['chirps']} chirps"]
    if role == "elicit" and "state" in st:
        return [f"elicit {st['state']}"]
    return []
