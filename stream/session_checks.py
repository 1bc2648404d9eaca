"""Checks that need the whole session: when it ended, what each producer said it published, the
nodes that did not end cleanly, and the outages of device nodes that were restarted."""

from __future__ import annotations

import numpy as np

from mestudio.stream import messages
from mestudio.stream.session_reader import SessionReader, StreamReader
from mestudio.stream.stream_checks import StreamReport

# how the supervisor's manifest describes a node that ended when asked: a local process with code 0,
# or a remote node (on another PC) that stopped on the session's broadcast
CLEAN_EXITS = ("exited with code 0", "stopped")


def session_end_ns(events: list[dict], streams: list[StreamReader]) -> int | None:
    """When the session ended: the supervisor's session/stop, else the last frame of any stream."""
    stop_times = [e.get("host_time_ns") for e in events if e.get("topic") == messages.SESSION_STOP]
    stops = [t for t in stop_times if isinstance(t, int)]
    if stops:
        return max(stops)
    lasts = [int(r.index["host_time_ns"][-1]) for r in streams if len(r.index)]
    return max(lasts) if lasts else None


def paused_at_end(events: list[dict]) -> bool:
    """Whether the operator had paused the recording when the session ended."""
    last = None
    for e in events:
        if e.get("topic") in (messages.RECORDER_PAUSED, messages.RECORDER_RESUMED):
            last = e["topic"]
    return last == messages.RECORDER_PAUSED


def producer_counts(events: list[dict], manifest: dict) -> dict:
    """Per stream, the body of its producer's END message (frames published, device_dropped)."""
    ends = {
        e.get("stream_id"): e.get("body")
        for e in events
        if str(e.get("topic", "")).startswith(messages.END) and isinstance(e.get("body"), dict)
    }
    # a producer whose END never reached the recorder (it died) still told the supervisor its counts
    nodes = manifest.get("nodes") or {}
    for n in nodes.values() if isinstance(nodes, dict) else []:
        st = n.get("status") if isinstance(n, dict) and n.get("role") != "recorder" else None
        st = st if isinstance(st, dict) else {}
        per = st.get("streams")
        for sid, counts in per.items() if isinstance(per, dict) else []:
            if sid not in ends and isinstance(counts, dict) and isinstance(counts.get("frames"), int):
                ends[sid] = {"frames": counts["frames"], "device_dropped": st.get("device_dropped", 0)}
    return ends


def node_problems(manifest: dict) -> list[str]:
    """Each node the manifest says did not end cleanly."""
    nodes = manifest.get("nodes")
    out = []
    for name, n in nodes.items() if isinstance(nodes, dict) else []:
        exit_ = n.get("exit") if isinstance(n, dict) else None
        if isinstance(exit_, str) and exit_ not in CLEAN_EXITS:
            out.append(f"node {name} ({n.get('role', '?')}) {exit_}")
    return out


def outage_problems(reader: SessionReader, streams: list[StreamReport], events: list[dict]) -> list[str]:
    """Each restart of a device node on the timeline, measured in its streams' own frames."""
    by_id = {s.stream_id: s for s in streams}
    problems = []
    for ev in events:
        body = ev.get("body")
        if ev.get("topic") != messages.SESSION_NODE_RESTARTED or not isinstance(body, dict):
            continue
        seq_base = body.get("seq_base")
        for sid, base in (seq_base if isinstance(seq_base, dict) else {}).items():
            s = by_id.get(sid)
            if s is None or not isinstance(base, int):
                continue
            idx = reader.stream(sid).index
            seq, host = idx["seq"].astype(np.int64), idx["host_time_ns"].astype(np.int64)
            before, after = host[seq < base], host[seq >= base]
            gap = round((int(after.min()) - int(before.max())) / 1e9, 3) if len(before) and len(after) else None
            s.outages.append({"restart": body.get("restart"), "node": body.get("node"), "from_seq": base, "gap_s": gap})
            where = f"no frames around seq {base}" if gap is None else f"{gap:.2f} s without frames before seq {base}"
            problems.append(
                f"{sid}: device node {body.get('node')} died ({body.get('exit', '?')}) and was restarted: {where}"
            )
    return problems
