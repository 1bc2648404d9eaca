"""LSL out: the session's markers, analyzer results and sync health as Lab Streaming Layer outlets.

With `[lsl] outlets = true` the supervisor starts this node; a LabRecorder running beside mestudio
then records these streams with the EEG:

    <prefix>-markers          Markers, string (JSON): protocol markers, operator commands,
                              session start/stop, sync chirps; stamped at the marker's host time
    <prefix>-analyzer-events  Markers, string (JSON): spotted events; stamped at their onset frame
    <prefix>-analyzer-trace   MEScore, double64 [seq, score, *trace_channels]: one per scored frame
    <prefix>-sync             SyncHealth, string (JSON): the sync node's health reports

Timestamps are on LSL's clock: mestudio's host clock is CLOCK_MONOTONIC, which is what
``pylsl.local_clock()`` reads; the difference between the two is measured once at start and added,
so a platform whose LSL clock differs still gets LSL-clock stamps.  The node is a lossy reader of
the bus (like the monitor): what its queue drops is counted in its heartbeat, never slows others.
"""

from __future__ import annotations

import json
import time

from mestudio.interop.errors import LSLUnavailableError
from mestudio.interop.settings import LSLSettings, load_lsl_settings
from mestudio.stream import wire
from mestudio.stream.errors import WireFormatError

MARKER_TOPICS = ("markers/", "command/", "session/", "sync/chirp", "sync/request-chirp")
TOPICS = ["markers/", "command/", "session/", "sync/", "results/"]


def import_pylsl():
    try:
        import pylsl
    except ImportError as e:
        raise LSLUnavailableError(
            f"[lsl] outlets = true needs pylsl, which is not installed ({e}); `pip install pylsl`"
        ) from None
    return pylsl


def clock_offset_s(local_clock, tries: int = 20) -> float:
    """LSL clock minus host clock: the reading bracketed most tightly by two host-clock reads."""
    best = None
    for _ in range(tries):
        a = time.monotonic()
        lsl = local_clock()
        b = time.monotonic()
        if best is None or b - a < best[0]:
            best = (b - a, lsl - (a + b) / 2)
    if best is None:
        raise ValueError(f"clock_offset_s: tries must be at least 1, got {tries}")
    return best[1]


class OutletBridge:
    """Owns the outlets; ``handle(msg)`` forwards one decoded bus message to the right one."""

    def __init__(self, settings: LSLSettings, session: str = "") -> None:
        self.lsl = import_pylsl()
        self.settings = settings
        p = settings.prefix
        # LSL clock minus host clock, for stamping host times on LSL's clock (0 on Linux)
        self.clock_offset_s = clock_offset_s(self.lsl.local_clock)
        self.sent: dict[str, int] = {}
        self.received: dict[str, int] = {}  # producer -> messages taken off the bus
        self.skipped = 0  # messages with a body the bridge cannot use (counted, not fatal)
        self.trace_channels = ["seq", "score", *settings.trace_channels]
        self.outlets = {
            "markers": self._outlet(f"{p}-markers", "Markers", 1, "string", session),
            "analyzer-events": self._outlet(f"{p}-analyzer-events", "Markers", 1, "string", session),
            "analyzer-trace": self._outlet(
                f"{p}-analyzer-trace", "MEScore", len(self.trace_channels), "double64", session, self.trace_channels
            ),
            "sync": self._outlet(f"{p}-sync", "SyncHealth", 1, "string", session),
        }

    @property
    def names(self) -> list[str]:
        return [f"{self.settings.prefix}-{key}" for key in self.outlets]

    def _outlet(self, name: str, kind: str, n: int, fmt: str, session: str, labels: list[str] | None = None):
        info = self.lsl.StreamInfo(name, kind, n, self.lsl.IRREGULAR_RATE, fmt, f"{name}@{session or 'mestudio'}")
        desc = info.desc()
        desc.append_child_value("session", session)
        desc.append_child_value("clock", "host CLOCK_MONOTONIC = LSL local_clock")
        if labels:
            chans = desc.append_child("channels")
            for label in labels:
                chans.append_child("channel").append_child_value("label", label)
        return self.lsl.StreamOutlet(info)

    def lsl_time(self, host_s: float) -> float:
        return host_s + self.clock_offset_s

    def _push_json(self, key: str, body: dict, host_s: float) -> None:
        self.outlets[key].push_sample([json.dumps(body, separators=(",", ":"), default=str)], self.lsl_time(host_s))
        self.sent[key] = self.sent.get(key, 0) + 1

    def handle(self, msg: wire.Message) -> None:
        topic, body, host_s = msg.topic, msg.data, msg.header.host_time_ns / 1e9
        self.received[msg.header.stream_id] = self.received.get(msg.header.stream_id, 0) + 1
        if msg.header.kind == wire.Kind.FRAME:
            return
        if not isinstance(body, dict):
            self.skipped += 1
            return
        if topic.startswith(MARKER_TOPICS):
            self._push_json("markers", {"topic": topic, **body}, host_s)
        elif topic == "sync/health":
            self._push_json("sync", body, host_s)
        elif topic.startswith("results/") and body.get("type") == "event":
            try:
                onset = float(body["onset_s"])
            except (KeyError, TypeError, ValueError):
                self.skipped += 1
                return
            self._push_json("analyzer-events", body, onset)
        elif topic.startswith("results/") and body.get("type") == "trace":
            self._trace(body)

    def _trace(self, body: dict) -> None:
        seqs, ts = body.get("seq"), body.get("t")
        if not isinstance(seqs, list) or not isinstance(ts, list) or len(seqs) != len(ts):
            self.skipped += 1
            return
        columns = []
        for name in self.trace_channels:
            head, _, sub = name.partition(".")
            series = body.get(head, {}).get(sub) if sub and isinstance(body.get(head), dict) else body.get(head)
            columns.append(series if isinstance(series, list) and len(series) == len(seqs) else None)
        rows, stamps = [], []
        for i, t in enumerate(ts):
            try:
                rows.append([float(c[i]) if c is not None else float("nan") for c in columns])
                stamps.append(self.lsl_time(float(t)))
            except (TypeError, ValueError):
                self.skipped += 1
        if rows:
            self.outlets["analyzer-trace"].push_chunk(rows, stamps)
            self.sent["analyzer-trace"] = self.sent.get("analyzer-trace", 0) + len(rows)

    def status(self) -> dict:
        return {"lsl_sent": dict(self.sent), "lsl_received": dict(self.received), "lsl_skipped": self.skipped}

    def close(self) -> None:
        self.outlets.clear()  # liblsl closes an outlet when its last reference goes


def run(ctx) -> int:
    """The `lsl` node: subscribe to the whole session bus, forward to the outlets until stopped."""
    settings = load_lsl_settings(ctx.config.lsl, str(ctx.session_dir / "config.toml"))
    bridge = OutletBridge(settings, ctx.session_dir.name)
    sub = ctx.subscriber(TOPICS, hwm=settings.hwm)
    bad = 0
    ctx.heartbeat({"ready": True, "outlets": bridge.names})
    try:
        next_beat = 0.0
        while not ctx.stop.is_set():
            try:
                msg = sub.recv(0.1)
            except WireFormatError:
                bad += 1
                continue
            if msg is not None:
                bridge.handle(msg)
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + 0.5
                ctx.heartbeat({**bridge.status(), "bad_messages": bad})
        # what is already queued on the bus (the session's stop marker) still goes out
        while (msg := sub.recv(0.2)) is not None:
            bridge.handle(msg)
    finally:
        ctx.heartbeat({**bridge.status(), "bad_messages": bad})
        sub.close()
        bridge.close()
    return 0
