"""Where markers go: the session's wire (recorded by the recorder) or, standalone, a JSONL file.

Both write the same record: each marker is an EVENT with ``host_time_ns`` from wire.now_ns()
(the host monotonic clock every stream is stamped with).  Topics:

* ``markers/elicit``        clip onsets/offsets, breaks, survey answers, operator actions
* ``state/elicit``          what the controller is doing now (for the monitor)
* ``sync/request-chirp``    at every clip onset: asks the sync master for an audible pattern
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol, TextIO

from mestudio.stream import messages, wire

MARKERS = messages.MARKERS_ELICIT
STATE = messages.STATE_ELICIT
CHIRP = messages.SYNC_CHIRP_REQUEST


class MarkerSink(Protocol):
    def emit(self, topic: str, body: dict, host_time_ns: int | None = None) -> None: ...

    def close(self) -> None: ...


class WireSink:
    """Markers as EVENT messages through a NodeContext publisher (lossless to the recorder)."""

    def __init__(self, publisher, stream_id: str = "elicit") -> None:
        self.publisher = publisher
        self.stream_id = stream_id
        self.seq = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def emit(self, topic: str, body: dict, host_time_ns: int | None = None) -> None:
        with self._lock:
            parts = wire.json_parts(
                wire.Kind.EVENT, self.stream_id, self.seq, body, topic=topic, host_time_ns=host_time_ns
            )
            self.seq += 1
            if not self.publisher.send(parts):
                self.dropped += 1

    def close(self) -> None:
        self.publisher.close()


class JsonlSink:
    """Standalone runs: one line per marker, the same fields as a session's events.jsonl.

    Each line is flushed and fsynced at once: a crash loses nothing already shown."""

    def __init__(self, path: Path, stream_id: str = "elicit") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: TextIO | None = None  # opened with the first marker: a run refused at its start leaves no file
        self.stream_id = stream_id
        self.seq = 0
        self._lock = threading.Lock()

    def emit(self, topic: str, body: dict, host_time_ns: int | None = None) -> None:
        rec = {
            "topic": topic,
            "kind": "event",
            "stream_id": self.stream_id,
            "seq": self.seq,
            "host_time_ns": wire.now_ns() if host_time_ns is None else host_time_ns,
            "device_time_ns": None,
            "body": body,
        }
        with self._lock:
            if self._f is None:
                self._f = open(self.path, "a", encoding="utf-8")
            self._f.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")
            self._f.flush()
            os.fsync(self._f.fileno())
            self.seq += 1

    def close(self) -> None:
        if self._f is not None and not self._f.closed:
            self._f.close()


class ListSink:
    """Keeps markers in memory (benchmarks); same records as JsonlSink."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def emit(self, topic: str, body: dict, host_time_ns: int | None = None) -> None:
        self.records.append(
            {"topic": topic, "host_time_ns": wire.now_ns() if host_time_ns is None else host_time_ns, "body": body}
        )

    def close(self) -> None:
        pass


def read_markers(path: str | Path, topic: str = MARKERS) -> list[dict]:
    """Markers of a JSONL file or a session's events.jsonl, in order (a torn last line is skipped)."""
    p = Path(path)
    if p.is_dir():
        p = p / "events.jsonl"
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("topic") == topic:
            out.append(rec)
    return out
