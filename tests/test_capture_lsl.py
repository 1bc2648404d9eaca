"""The lsl device kind against real LSL outlets in another process (tests/lsl_sender.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mestudio.capture.errors import DeviceNotFoundError
from mestudio.capture.lsl import decode_strings, encode_strings, predicate
from mestudio.capture.registry import create_device
from mestudio.config.schema import LSLInlet, SessionConfig
from tests.conftest import ROOT

pytest.importorskip("pylsl")

# LSL names are machine-wide: a suffix of this test process keeps another run (or a leftover sender)
# from feeding these inlets
TAG = f"-{os.getpid()}"


def sender(log, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "lsl_sender.py"), str(log), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def finish(proc: subprocess.Popen) -> None:
    try:
        proc.communicate("\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def spec(name: str, **kw) -> LSLInlet:
    return LSLInlet(name=name, kind="lsl", resolve_timeout_s=20, **kw)


def sent_all(log):
    """A stop condition: the sender has written its log and its last sample has been read."""

    def done(frames) -> bool:
        if not frames or not log.exists():
            return False
        last = json.loads(log.read_text())["samples"][-1][0]
        return int(frames[-1].data[0]) // 10 >= last

    return done


def read_until(dev, stop, limit: int = 600) -> list:
    frames = []
    for _ in range(limit):
        frames += dev.read(timeout_s=0.2)
        if stop(frames):
            break
    return frames


def test_config_names_a_stream():
    with pytest.raises(ValueError, match="set stream, type or source_id"):
        SessionConfig.model_validate({"devices": [{"name": "eeg", "kind": "lsl"}]})
    with pytest.raises(ValueError, match="quote"):
        LSLInlet(name="x", kind="lsl", stream="a' or '1'='1")
    assert predicate(spec("x", stream="eeg", type="EEG")) == "name='eeg' and type='EEG'"


def test_marker_strings_keep_utf8_and_count_what_is_cut():
    arr, cut = encode_strings(["stim-1", "é" * 10, "a" + "é" * 9, b"\xff\xfeok"], 8)
    assert arr.dtype == np.dtype("|S8") and cut == 2
    assert decode_strings(arr) == ["stim-1", "éééé", "aééé", "\ufffd\ufffdok"]  # bytes kept as sent


def test_missing_stream_is_a_clear_lookup_error():
    dev = create_device(LSLInlet(name="nope", kind="lsl", stream="no-such-stream-here", resolve_timeout_s=0.5))
    with pytest.raises(DeviceNotFoundError, match="no LSL stream matches name='no-such-stream-here'") as e:
        dev.open()
    assert isinstance(e.value, LookupError)


@pytest.mark.slow
def test_numeric_and_marker_samples_arrive_with_their_lsl_clock(tmp_path):
    log = tmp_path / "sent.json"
    proc = sender(
        log, "--name", f"dev-eeg{TAG}", "--samples", "120", "--markers", f"dev-mk{TAG}", "--marker-every", "20"
    )
    try:
        with (
            create_device(spec("eeg", stream=f"dev-eeg{TAG}", type="EEG")) as eeg,
            create_device(spec("mk", source_id=f"dev-mk{TAG}-src")) as mk,
        ):
            assert eeg.streams[0].shape == (8,) and eeg.streams[0].dtype == "<f4"
            assert eeg.streams[0].settings["channel_labels"][:2] == [f"dev-eeg{TAG}0", f"dev-eeg{TAG}1"]
            assert mk.streams[0].media == "markers" and mk.streams[0].dtype == "|S256"
            got = read_until(eeg, lambda f: len(f) >= 120)
            marks = read_until(mk, lambda f: len(f) >= 6)
        finish(proc)
        sent = json.loads(log.read_text())
        assert [int(f.data[0]) // 10 for f in got] == [k for k, _ in sent["samples"]]
        assert np.allclose(got[5].data, [50 + c for c in range(8)])
        assert [f.seq for f in got] == list(range(len(got)))
        # device time is the sender's stamp; host time adds LSL's clock offset (same host: tiny)
        assert [f.device_time_ns for f in got] == [round(ts * 1e9) for _, ts in sent["samples"]]
        off = np.array([f.host_time_ns - f.device_time_ns for f in got]) / 1e6
        assert np.all(np.abs(off) < 1.0), off
        assert [decode_strings(f.data)[0] for f in marks] == [m for m, _ in sent["markers"]]
        assert eeg.counters()["lsl_outages"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
@pytest.mark.parametrize(
    "source_id", [f"gap-eeg-amp{TAG}", ""], ids=["recovered-by-liblsl", "no-source-id-resolved-again"]
)
def test_an_outlet_that_disappears_and_comes_back_is_a_counted_gap(tmp_path, source_id):
    log = tmp_path / "sent.json"
    name = f"gap-eeg{len(source_id)}-{TAG}"
    proc = sender(log, "--name", name, "--samples", "400", "--outage-at", "60", "--source-id", source_id)
    try:
        with create_device(spec("eeg", source_id=source_id) if source_id else spec("eeg", stream=name)) as eeg:
            got = read_until(eeg, lambda f: bool(f) and int(f[-1].data[0]) // 10 >= 59)
            assert proc.stdout.readline().strip() == "connected"
            assert proc.stdout.readline().strip() == "outage due"
            proc.stdin.write("\n")  # samples 0-59 are here: the sender may vanish
            proc.stdin.flush()
            got += read_until(eeg, lambda f: sent_all(log)(got + f))
            counts = eeg.counters()
            dropped = eeg.dropped
        finish(proc)
        sent = json.loads(log.read_text())
        skipped = sent["skipped"]
        values = np.array([int(f.data[0]) // 10 for f in got])
        last = sent["samples"][-1][0]
        assert len(got) == len(sent["samples"]) == last + 1 - len(skipped) >= 400 - len(skipped)
        assert got[-1].data[0] == last * 10 and 60 in skipped
        # the seq numbers say where the missing samples were, as a camera's frame counter would
        seqs = np.array([f.seq for f in got])
        assert np.abs(seqs - values).max() <= 1
        assert abs(dropped - len(skipped)) <= 1 and counts["lsl_outages"] == 1
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_example_config_loads():
    from mestudio.config.loader import load_session_config

    cfg = load_session_config(ROOT / "config" / "lsl-eeg.toml")
    assert [d.kind for d in cfg.devices] == ["synthetic-camera", "lsl", "lsl"] and cfg.lsl["outlets"] is True


def test_the_monitor_takes_lsl_streams_for_signals_not_sound():
    from mestudio.monitor.display import media_of

    assert media_of("lsl-float32", (8,)) == media_of("lsl-string", (1,)) == "signal"
    assert media_of("s16le", (800, 1)) == "audio"
