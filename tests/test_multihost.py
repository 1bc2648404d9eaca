"""Two capture PCs, as two network namespaces joined by a veth pair: a remote device over CURVE tcp."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mestudio.stream.bus import Endpoints
from mestudio.stream.curve import create_keys
from mestudio.stream.session_reader import SessionReader
from tests.conftest import ROOT, mestudio, write_config
from tests.session_helpers import manifest, session_dir, wait_recording

RECORDING_PC, CAPTURE_PC = "10.77.0.1", "10.77.0.2"  # inside the namespaces only
SKEW_S = 3600  # the second PC's clock, as if it had booted an hour earlier


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@pytest.fixture
def two_hosts(request):
    """Namespaces A (recording PC) and B (second capture PC), a veth pair between them."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed (scripts/apt-packages.txt)")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
    tag = f"{os.getpid() % 100000}"
    a, b = f"mes{tag}a", f"mes{tag}b"
    made: list[str] = []

    def cleanup() -> None:
        for ns in made:
            _ip("netns", "del", ns)  # deleting a namespace deletes its end of the veth pair too

    request.addfinalizer(cleanup)
    for ns in (a, b):
        r = _ip("netns", "add", ns)
        if r.returncode != 0:
            pytest.skip(f"cannot make a network namespace here: {r.stderr.strip()}")
        made.append(ns)
    steps = [
        ("link", "add", f"mv{tag}a", "type", "veth", "peer", "name", f"mv{tag}b"),
        ("link", "set", f"mv{tag}a", "netns", a),
        ("link", "set", f"mv{tag}b", "netns", b),
        ("-n", a, "addr", "add", f"{RECORDING_PC}/24", "dev", f"mv{tag}a"),
        ("-n", b, "addr", "add", f"{CAPTURE_PC}/24", "dev", f"mv{tag}b"),
        ("-n", a, "link", "set", f"mv{tag}a", "up"),
        ("-n", b, "link", "set", f"mv{tag}b", "up"),
        ("-n", a, "link", "set", "lo", "up"),
        ("-n", b, "link", "set", "lo", "up"),
    ]
    for step in steps:
        r = _ip(*step)
        if r.returncode != 0:
            pytest.skip(f"cannot set up the veth pair: ip {' '.join(step)}: {r.stderr.strip()}")
    return a, b


def _wait_for_event(root, topic: str, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    p = root / "events.jsonl"
    while time.monotonic() < end:
        if p.exists() and f'"{topic}"' in p.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise TimeoutError(f"no {topic} event in {timeout_s} s")


def _in(ns: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "mestudio", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


RIG = """
[session]
name = "mh"
participant = "P01"
[transport]
scheme = "tcp"
host = "{recording}"
base_port = 5550
keys = "{keys}"
heartbeat_s = 0.2
[[devices]]
name = "cam"
kind = "synthetic-camera"
width = 160
height = 120
fps = 30
[[devices]]
name = "cam2"
kind = "synthetic-camera"
host = "{capture}"
width = 160
height = 120
fps = 30
"""


@pytest.mark.slow
def test_a_device_on_a_second_pc_records_on_the_one_timeline(tmp_path, two_hosts):
    a, b = two_hosts
    keys = tmp_path / "keys"
    create_keys(keys, ["pc2"])
    # what docs/multi-host.md says to copy to the capture PC: all but the recording PC's client secret
    pc2_keys = tmp_path / "pc2-keys"
    shutil.copytree(keys, pc2_keys, ignore=shutil.ignore_patterns("client.key_secret"))
    cfg = write_config(tmp_path / "rig.toml", RIG.format(recording=RECORDING_PC, capture=CAPTURE_PC, keys=keys))
    sup = _in(a, "run", str(cfg), "--out", str(tmp_path / "out"), "--quiet")
    node = _in(
        b,
        "node",
        str(cfg),
        "--device",
        "cam2",
        "--keys",
        str(pc2_keys),
        "--client",
        "pc2",
        "--simulate-clock-offset",
        str(SKEW_S),
    )
    try:
        root = session_dir(tmp_path / "out")
        wait_recording(root, "cam2", 45, timeout_s=60)
        wait_recording(root, "cam", 45, timeout_s=60)
        _wait_for_event(root, "session/start")  # every node, the remote one too, is in
        eps = Endpoints.load(root)
        assert eps.recorder.startswith(f"tcp://{RECORDING_PC}:") and eps.pubs["cam2"].startswith(f"tcp://{CAPTURE_PC}:")
    finally:
        if sup.poll() is None:
            sup.send_signal(signal.SIGTERM)
        sup_out, sup_err = sup.communicate(timeout=60)
        node_out, node_err = node.communicate(timeout=30)  # the session told it to stop
    assert sup.returncode == 0, sup_err
    assert node.returncode == 0, node_err
    assert "mestudio node cam2: joined" in node_out
    m = manifest(root)
    assert m["status"] == "complete" and m["nodes"]["cam2"]["exit"] == "stopped"

    v = json.loads(mestudio("verify", str(root), "--json").stdout)
    assert v["ok"], v
    cam2 = next(s for s in v["streams"] if s["stream_id"] == "cam2")
    assert cam2["frames"] >= 45 and cam2["gaps"] == 0 and cam2["published"] == cam2["frames"]

    reader = SessionReader(root)
    # the recorder stamps arrival on its own clock: every remote frame was made shortly before it
    # arrived, although the second PC's clock is an hour off
    idx = reader.stream("cam2").index
    latency = (idx["recv_time_ns"].astype(np.int64) - idx["host_time_ns"].astype(np.int64)) / 1e9
    assert latency.min() >= -0.005 and np.median(latency) < 0.5, (latency.min(), np.median(latency))
    local = reader.stream("cam").index["host_time_ns"].astype(np.int64)
    assert abs(int(idx["host_time_ns"][0]) - int(local[0])) / 1e9 < 30  # the same timeline as the local camera
    clocks = [e["body"] for e in reader.events() if e["topic"] == "session/remote-clock"]
    assert clocks and all(c["node"] == "cam2" for c in clocks)
    # both namespaces share one kernel clock: the measured offset is the simulated one
    best = min(clocks, key=lambda c: c["rtt_ns"])
    assert abs(best["applied_ns"] + SKEW_S * 1e9) <= best["error_bound_ns"] + 2_000_000
