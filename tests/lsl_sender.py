"""A separate process standing in for an EEG amplifier's LSL app: a numeric outlet and a marker outlet.

    python tests/lsl_sender.py LOG.json --name eeg --srate 100 --channels 8 --samples 300 [--markers M]
        [--outage-at K --outage-s S]

It waits until an inlet is connected to each outlet, then pushes sample k
(channel c holds k * 10 + c) at its own scheduled time, stamped with ``local_clock()`` as an LSL app
does, and a marker "stim-<j>" every ``--marker-every`` samples.  With ``--outage-at`` the numeric
outlet is destroyed at sample K, once a line on stdin says the samples before it were received
(it prints "outage due" first), and recreated (same source id) S seconds later; the samples due
meanwhile are never sent, like an amplifier app that crashed and was restarted; however long the
inlet takes to find it again (seconds on a loaded machine), ``--after-outage`` samples follow.
It writes what it sent (index, timestamp) to LOG.json, prints "sent", and exits on a line on stdin.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import pylsl


def outlet(name: str, kind: str, channels: int, srate: float, fmt: str, source_id: str) -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(name, kind, channels, srate, fmt, source_id)
    chans = info.desc().append_child("channels")
    for c in range(channels):
        chans.append_child("channel").append_child_value("label", f"{name}{c}")
    return pylsl.StreamOutlet(info)


def wait_consumers(out: pylsl.StreamOutlet, n: int, timeout_s: float = 120) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        # liblsl has no count of consumers; one connected inlet is all it reports
        if out.have_consumers():
            return
        time.sleep(0.01)
    sys.exit(f"no inlet connected to the LSL outlet in {timeout_s} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--name", default="eeg")
    ap.add_argument("--srate", type=float, default=100.0)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--markers", default="")
    ap.add_argument("--marker-every", type=int, default=25)
    ap.add_argument("--outage-at", type=int, default=-1)
    ap.add_argument("--outage-s", type=float, default=1.0)
    ap.add_argument("--after-outage", type=int, default=100, help="samples sent at least once reconnected")
    ap.add_argument("--source-id", default=None, help='the numeric outlet\'s source id (default <name>-amp; "" none)')
    a = ap.parse_args()
    source_id = f"{a.name}-amp" if a.source_id is None else a.source_id
    sig = outlet(a.name, "EEG", a.channels, a.srate, "float32", source_id)
    mk = outlet(a.markers, "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"{a.markers}-src") if a.markers else None
    for o in (sig, mk):
        if o is not None:
            wait_consumers(o, 1)
    print("connected", flush=True)
    period = 1.0 / a.srate
    sent, markers, skipped = [], [], []
    start = pylsl.local_clock() + 0.1
    k, end = 0, a.samples
    while k < end:
        due = start + k * period
        if k == a.outage_at:
            # what was pushed reaches the inlets first (a crash would lose it: not our test): the
            # reader says when it has sample K-1
            print("outage due", flush=True)
            sys.stdin.readline()
            del sig  # the outlet vanishes: its inlets lose it
            time.sleep(a.outage_s)
            sig = outlet(a.name, "EEG", a.channels, a.srate, "float32", source_id)
            waited = time.monotonic()
            wait_consumers(sig, 1)
            print(f"reconnected after {time.monotonic() - waited:.2f} s", file=sys.stderr, flush=True)
            # the amplifier kept sampling meanwhile: what fell due while no outlet was up is lost
            while start + k * period < pylsl.local_clock() + 0.005:
                skipped.append(k)
                k += 1
            end = max(end, k + a.after_outage)
            continue
        time.sleep(max(0.0, due - pylsl.local_clock()))
        # stamped when it was sampled, as an amplifier's clock does, not when a loaded machine
        # got round to pushing it (a late push would look like more samples lost than were)
        ts = due
        sig.push_sample([k * 10.0 + c for c in range(a.channels)], ts)
        sent.append((k, ts))
        if mk is not None and k % a.marker_every == 0:
            label = f"stim-{k // a.marker_every}"
            mk.push_sample([label], ts)
            markers.append((label, ts))
        k += 1
    with open(a.log + ".tmp", "w") as f:  # whole or absent: a test polls for it
        json.dump({"samples": sent, "markers": markers, "skipped": skipped}, f)
    os.replace(a.log + ".tmp", a.log)
    print("sent", flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    main()
