"""LSL in and XDF export against baselines measured in the same run.

* LSL in: a 64-channel float32 outlet in another process pushes a fixed number of samples as fast
  as it can; the `lsl` device kind (capture/lsl.py) reads them into frames, against a bare pylsl
  `pull_chunk` loop reading the same outlet (baseline).
* XDF export: a session holding 64 channels x 1 kHz written as XDF (interop/session_xdf.py),
  against writing the same sample bytes with numpy (baseline: what the disk and memory allow).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HELP = "LSL inlet samples/s vs bare pylsl, XDF export MB/s vs a raw write of the same bytes"

CHANNELS = 64
QUIET_S = 3.0  # a reader that hears nothing for this long has everything it will get
# liblsl's inlet buffer holds max_buflen seconds at the nominal rate: 60 s at 1 kHz = 60000 samples,
# so the sender's burst (faster than any reader) must fit in it, or the oldest samples are dropped
SENDER = r"""
import sys, time, numpy as np, pylsl
name, n, ch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", ch, 1000.0, "float32", name + "-src"), chunk_size=32)
while not out.have_consumers():
    time.sleep(0.01)
chunk = np.zeros((256, ch), np.float32)
for a in range(0, n, 256):
    out.push_chunk(chunk[: min(256, n - a)])
print("sent", flush=True)
sys.stdin.readline()
"""


def _sender(name: str, n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SENDER, name, str(n), str(CHANNELS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _bare_pylsl(n: int) -> tuple[int, float]:
    import pylsl

    proc = _sender("bench-bare", n)
    try:
        inlet = pylsl.StreamInlet(pylsl.resolve_byprop("name", "bench-bare", 1, 30)[0], max_buflen=60)
        inlet.open_stream(timeout=30)
        got, t0, last = 0, None, time.perf_counter()
        while got < n and time.perf_counter() - last < QUIET_S:
            samples, _ = inlet.pull_chunk(timeout=0.2, max_samples=4096, min_samples=1, as_numpy=True)
            if len(samples):
                t0, last = t0 or time.perf_counter(), time.perf_counter()
            got += len(samples)
        return got, got / max(last - (t0 or last), 1e-9)
    finally:
        proc.communicate("\n", timeout=30)


def _device(n: int) -> tuple[int, float]:
    from mestudio.capture.registry import create_device
    from mestudio.config.schema import LSLInlet

    proc = _sender("bench-dev", n)
    try:
        with create_device(LSLInlet(name="eeg", kind="lsl", stream="bench-dev", max_buffered_s=60)) as dev:
            got, t0, last = 0, None, time.perf_counter()
            while got < n and time.perf_counter() - last < QUIET_S:
                frames = dev.read(timeout_s=0.2)
                if frames:
                    t0, last = t0 or time.perf_counter(), time.perf_counter()
                got += len(frames)
            return got, got / max(last - (t0 or last), 1e-9)
    finally:
        proc.communicate("\n", timeout=30)


def _xdf(seconds: int, tmp: Path) -> dict:
    from mestudio.interop.session_xdf import export_xdf
    from mestudio.stream.session import write_json_atomic
    from mestudio.stream.session_reader import SessionReader
    from mestudio.stream.session_writer import SessionWriter

    root = tmp / "s"
    root.mkdir()
    write_json_atomic(root / "manifest.json", {"format": "mestudio-session", "status": "complete", "t0_host_ns": 0})
    w = SessionWriter(root)
    st = w.stream("eeg", "<f4", (CHANNELS,), "lsl-float32")
    st.describe({"media": "signal", "rate_hz": 1000.0, "device_kind": "lsl", "settings": {"lsl_name": "eeg"}})
    data = np.random.default_rng(0).normal(size=(seconds * 1000, CHANNELS)).astype("<f4")
    for k, row in enumerate(data):
        st.append(k, k * 1_000_000, k * 1_000_000 + 500_000, row.tobytes())
    w.close()
    t = time.perf_counter()
    export_xdf(SessionReader(root), tmp / "s.xdf")
    xdf_s = time.perf_counter() - t
    t = time.perf_counter()
    data.tofile(tmp / "raw.bin")
    raw_s = time.perf_counter() - t
    mb = data.nbytes / 1e6
    return {
        "samples": len(data),
        "MB_of_samples": round(mb, 1),
        "xdf_MB_per_s": round(mb / xdf_s, 1),
        "raw_write_MB_per_s": round(mb / raw_s, 1),
        "ratio": round(raw_s / xdf_s, 3),
        "xdf_file_MB": round((tmp / "s.xdf").stat().st_size / 1e6, 1),
    }


def run(args) -> dict:
    n = 20_000 if args.quick else 50_000
    (base_n, base), (dev_n, dev) = _bare_pylsl(n), _device(n)
    with tempfile.TemporaryDirectory() as d:
        xdf = _xdf(5 if args.quick else 60, Path(d))
    return {
        "lsl_in_64ch": {
            "samples_sent": n,
            "mestudio_received": dev_n,
            "bare_pylsl_received": base_n,
            "mestudio_samples_per_s": round(dev),
            "bare_pylsl_samples_per_s": round(base),
            "ratio": round(dev / base, 3),
        },
        "xdf_export_64ch_1kHz": xdf,
    }
