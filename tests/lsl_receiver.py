"""Another process, standing in for LabRecorder: resolve LSL streams by name and record what arrives.

    python tests/lsl_receiver.py OUT.json NAME=COUNT[:TEXT] [NAME=COUNT[:TEXT] ...]

Resolves every NAME (60 s at most), opens an inlet to each, prints "connected", then pulls until
each has delivered COUNT samples (with ``:TEXT``, COUNT whose first channel holds TEXT: a marker
stream also carries the session's other markers, some sent before this process connected) or 60 s
pass, and writes {NAME: [[timestamp, sample], ...]}
with the timestamps as sent (no clock post-processing) and "time_correction" per stream.
"""

from __future__ import annotations

import json
import sys
import time

import pylsl


def main() -> None:
    out, specs = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
    wants = {name: spec.partition(":")[0] for name, spec in specs.items()}
    texts = {name: spec.partition(":")[2] for name, spec in specs.items()}
    inlets = {}
    for name in wants:
        found = pylsl.resolve_byprop("name", name, 1, 60.0)
        if not found:
            sys.exit(f"no LSL stream named {name!r}")
        inlets[name] = pylsl.StreamInlet(found[0], recover=False)
        inlets[name].open_stream(timeout=30)
    print("connected", flush=True)
    got = {name: [] for name in wants}
    end = time.monotonic() + 60

    def counted(name: str) -> int:
        return sum(1 for _, s in got[name] if texts[name] in str(s[0]))

    while time.monotonic() < end and any(counted(n) < int(c) for n, c in wants.items()):
        for name, inlet in inlets.items():
            samples, stamps = inlet.pull_chunk(timeout=0.05)
            got[name] += [[t, s] for s, t in zip(samples, stamps)]
    result = {"streams": got, "time_correction": {n: i.time_correction(timeout=5) for n, i in inlets.items()}}
    with open(out, "w") as f:
        json.dump(result, f)
    print("done", flush=True)


if __name__ == "__main__":
    main()
