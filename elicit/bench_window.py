"""Benchmark helper run in its own process (Qt): clip onset markers vs the frame's paint.

`python -m mestudio.elicit.bench_window N` plays N one-second generated clips in the offscreen participant
window and prints JSON: for each onset, the marker's host time minus the end of the paint of
that frame (the flush to the window system), and minus the time the frame was due.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

PROTOCOL = """
[protocol]
name = "bench"
break_s = 0.3
instructions = "benchmark"
[display]
fullscreen = false
size = [960, 600]
photodiode = "top-left"
"""


def main(n: int) -> dict:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from mestudio.elicit.app import run_protocol
    from mestudio.elicit.checks import check_protocol
    from mestudio.elicit.markers import MARKERS, ListSink
    from mestudio.elicit.protocol import load_protocol

    styles = ["waves", "ball", "checker", "rings"]
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "bench.toml"
        p.write_text(
            PROTOCOL
            + "".join(
                f'[[clips]]\nid = "b{i}"\ntitle = "B{i}"\ngenerated = "{styles[i % 4]}"\nduration_s = 1\n\n'
                for i in range(n)
            )
        )
        proto = load_protocol(p)
        pre = check_protocol(proto, sound=False)
        sink = ListSink()
        res = run_protocol(proto, "P00", sink, pre, headless=True, autostart=True, hold_end_s=0.0)
    paints = np.array(res.paint_log, dtype=np.int64)
    onsets = [r for r in sink.records if r["topic"] == MARKERS and r["body"]["event"] == "clip_onset"]
    after_paint, after_due = [], []
    for r in onsets:
        t = r["host_time_ns"]
        before = paints[paints <= t]
        after_paint.append((t - int(before[-1])) / 1e6 if len(before) else float("nan"))
        after_due.append((t - r["body"]["due_ns"]) / 1e6)
    return {
        "onsets": len(onsets),
        "marker_after_paint_ms": after_paint,
        "marker_after_due_ms": after_due,
        "completed": res.completed,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)))
    sys.stdout.flush()
