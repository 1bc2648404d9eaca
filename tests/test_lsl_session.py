"""LSL in, end to end: an EEG-like LSL outlet and a marker outlet in another process, recorded in a
session with the synthetic face rig through `mestudio run`; the sender's own log is the ground truth."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from mestudio.capture.lsl import decode_strings
from mestudio.stream.session_reader import SessionReader
from tests.conftest import mestudio, write_config
from tests.session_helpers import face_rig, manifest, session_dir, start_run, stop, wait_recording
from tests.test_capture_lsl import TAG, finish, sender

pytest.importorskip("pylsl")

N = 300  # 3 s at 100 Hz

RIG_WITH_EEG = face_rig(
    "lslrig",
    more="""[[devices]]
name = "eeg"
kind = "lsl"
stream = "sess-eegTAG"
type = "EEG"
resolve_timeout_s = 60
[[devices]]
name = "stim"
kind = "lsl"
source_id = "sess-mkTAG-src"
resolve_timeout_s = 60
[sync]
enabled = true
""",
)


def session_times(path) -> list[float]:
    with open(path) as f:
        return [float(r["session_time_s"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_lsl_outlets_recorded_with_the_face_rig_on_the_session_timeline(tmp_path):
    cfg = write_config(tmp_path / "rig.toml", RIG_WITH_EEG.replace("TAG", TAG))
    log = tmp_path / "sent.json"
    lsl = sender(
        log, "--name", f"sess-eeg{TAG}", "--samples", str(N), "--markers", f"sess-mk{TAG}", "--marker-every", "50"
    )
    run = start_run(cfg, tmp_path / "out")
    try:
        root = session_dir(tmp_path / "out", timeout_s=60)
        assert lsl.stdout.readline().strip() == "connected"
        assert lsl.stdout.readline().strip() == "sent"
        try:
            wait_recording(root, "eeg", N, timeout_s=30)
            wait_recording(root, "stim", N // 50, timeout_s=30)
        except TimeoutError:
            pass  # the figures below say how many arrived
        code, out, err = stop(run)
        assert code == 0, out[-2000:] + err[-2000:]
    finally:
        if run.poll() is None:
            run.kill()
        finish(lsl)
    sent = json.loads(log.read_text())
    t0 = manifest(root)["t0_host_ns"] / 1e9
    sent_t = {k: ts - t0 for k, ts in sent["samples"]}  # where each sample was, on the session timeline
    reader = SessionReader(root)
    assert {"face", "eeg", "stim"} <= set(reader.stream_ids())
    eeg = reader.stream("eeg")
    assert eeg.info["media"] == "signal" and eeg.info["shape"] == [8] and eeg.info["rate_hz"] == 100
    got = [int(frame[0]) // 10 for _, frame in eeg.frames()]
    assert len(set(got) & set(sent_t)) >= 0.99 * N
    # recorded host times (the recorder's timestamps.csv) and the synced timeline (sync/timestamps/)
    for path in (root / "streams" / "eeg" / "timestamps.csv", root / "sync" / "timestamps" / "eeg.csv"):
        err_ms = np.abs(np.array(session_times(path)) - np.array([sent_t[k] for k in got])) * 1e3
        assert err_ms.max() < 1.0, (path, err_ms.max())
    stim = reader.stream("stim")
    assert stim.info["media"] == "markers"
    labels = [decode_strings(frame)[0] for _, frame in stim.frames()]
    assert labels == [m for m, _ in sent["markers"]]
    stim_t = np.array(session_times(root / "sync" / "timestamps" / "stim.csv"))
    assert np.abs(stim_t - [ts - t0 for _, ts in sent["markers"]]).max() * 1e3 < 1.0
    assert reader.stream("face").index.size > 30  # the face rig recorded beside them
    assert json.loads((root / "sync" / "report.json").read_text())["framesets"]["reference"] == "face"
    # the same session as XDF: the LSL stream under its own name, stamped where it was sent
    pyxdf = pytest.importorskip("pyxdf")
    r = mestudio("export", str(root), "--what", "xdf", "--json")
    assert r.returncode == 0, r.stderr
    xdf = json.loads(r.stdout)["written"]["xdf"][0]
    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(xdf, dejitter_timestamps=False)[0]}
    assert {f"sess-eeg{TAG}", f"sess-mk{TAG}", "face-frames", "mestudio-markers"} <= set(streams)
    sent_ts = dict(sent["samples"])
    x = streams[f"sess-eeg{TAG}"]
    got_x = [int(v) // 10 for v in x["time_series"][:, 0]]
    assert np.abs(x["time_stamps"] - [sent_ts[k] for k in got_x]).max() < 1e-3
    assert [v[0] for v in streams[f"sess-mk{TAG}"]["time_series"]] == [m for m, _ in sent["markers"]]


OUTAGE_RIG = face_rig(
    "lslgap",
    more="""[[devices]]
name = "eeg"
kind = "lsl"
source_id = "gap2TAG-amp"
resolve_timeout_s = 60
""",
)


@pytest.mark.slow
def test_an_lsl_sender_restarted_mid_session_is_a_counted_gap_not_a_failure(tmp_path):
    cfg = write_config(tmp_path / "rig.toml", OUTAGE_RIG.replace("TAG", TAG))
    log = tmp_path / "sent.json"
    lsl = sender(log, "--name", f"gap2{TAG}", "--samples", "600", "--outage-at", "80", "--outage-s", "1.0")
    run = start_run(cfg, tmp_path / "out")
    try:
        root = session_dir(tmp_path / "out", timeout_s=60)
        assert lsl.stdout.readline().strip() == "connected"
        assert lsl.stdout.readline().strip() == "outage due"
        wait_recording(root, "eeg", 80, timeout_s=60)  # samples 0-79 recorded: the sender may vanish
        lsl.stdin.write("\n")
        lsl.stdin.flush()
        assert lsl.stdout.readline().strip() == "sent"
        sent = json.loads(log.read_text())
        try:
            wait_recording(root, "eeg", len(sent["samples"]), timeout_s=30)
        except TimeoutError:
            pass
        code, out, err = stop(run)
    finally:
        if run.poll() is None:
            run.kill()
        finish(lsl)
    # the session goes on and completes; its verdict (exit 1) reports the gap, as for any device
    assert manifest(root)["status"] == "complete" and code == 1, out[-2000:] + err[-2000:]
    assert "eeg" in out and "missing seq: 80-" in out
    # the sender did come back: the 80 before its outage, then at least its 100 after (how many of
    # the 600 fell due while it was away depends on how loaded the machine is)
    assert len(sent["samples"]) >= 80 + 100 and max(k for k, _ in sent["samples"]) > 80
    r = mestudio("verify", str(root), "--json")
    eeg = next(s for s in json.loads(r.stdout)["streams"] if s["stream_id"] == "eeg")
    assert eeg["frames"] == len(sent["samples"])
    assert abs(eeg["gaps"] - len(sent["skipped"])) <= 1 and len(eeg["gap_ranges"]) == 1
    end = next(e for e in SessionReader(root).events() if e["topic"] == "end/eeg")["body"]
    assert end["lsl_outages"] == 1 and abs(end["device_dropped"] - len(sent["skipped"])) <= 1
