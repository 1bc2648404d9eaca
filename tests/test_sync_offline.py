"""The offline sync report of a recorded session: triggers on the audio clock, chirps, frame sets."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mestudio.config.errors import ConfigError
from mestudio.sync.avcheck import av_check
from mestudio.sync.errors import NotEnoughDataError
from mestudio.sync.framesets import MISSING
from mestudio.sync.offline import build_report
from mestudio.sync.settings import load_sync_settings
from tests.conftest import ROOT
from tests.sync_fixtures import sample_time_ns, write_sync_session


@pytest.fixture
def session(tmp_path):
    return write_sync_session(tmp_path / "s", flash_s=2.0, click_s=2.0)


def test_report_places_triggered_frames_on_the_audio_clock(session):
    rep = build_report(session.root)
    trig = rep["triggers"]["rig-0"]
    assert trig["frames_on_audio_clock"] == len(session.rig_seq) and trig["frames_without_trigger"] == 0
    ts = pd.read_csv(session.root / "sync" / "timestamps" / "rig-0.csv")
    np.testing.assert_array_equal(ts["seq"], session.rig_seq)
    err_ms = (ts["corrected_ns"].to_numpy() - session.rig_truth_ns) / 1e6
    assert np.max(np.abs(err_ms)) < 0.05
    # raw host times are kept beside the corrected ones
    assert (ts["host_time_ns"] - ts["corrected_ns"]).min() >= -1e5


def test_a_camera_counting_from_one_is_matched_to_its_triggers(tmp_path):
    t = write_sync_session(tmp_path / "one", duration_s=3.0, rig_first_seq=1)
    rep = build_report(t.root)
    assert rep["triggers"]["rig-0"]["seq_minus_tick"] == 1
    ts = pd.read_csv(t.root / "sync" / "timestamps" / "rig-0.csv")
    assert np.max(np.abs(ts["corrected_ns"].to_numpy() - t.rig_truth_ns)) < 50_000


def test_report_finds_every_requested_chirp_and_times_it(session):
    rep = build_report(session.root)
    ch = rep["chirps"]
    assert ch["requested"] == ch["matched"] == len(session.chirp_samples)
    for req, want in zip(ch["requests"], session.chirp_samples):
        assert abs(req["found_sample"] - want) < 0.05
    for det, want in zip(ch["detected"], session.chirp_samples):
        assert abs(det["time_ns"] - sample_time_ns(want)) < 20_000  # 20 us on the host timeline
    assert rep["audio"]["missing_blocks"] == 2


def test_frame_sets_mark_missing_frames(session):
    rep = build_report(session.root)
    fs = rep["framesets"]
    assert fs["reference"] == "rig-0"  # the triggered camera defines the instants
    assert fs["missing"]["rig-0"] == session.dropped_rig
    assert fs["missing"]["mic"] == 2  # the two lost audio blocks
    df = pd.read_csv(session.root / "sync" / "framesets.csv")
    assert len(df) == fs["sets"] == len(session.trigger_samples)
    assert (df["rig-0_seq"] == MISSING).sum() == session.dropped_rig
    # a 30 Hz stream fills each 60 Hz instant with the frame covering it, never further than half its period
    assert df.loc[df["kin-color_seq"] != MISSING, "kin-color_dt_us"].abs().max() <= 16_700
    saved = json.loads((session.root / "sync" / "report.json").read_text())
    assert saved["framesets"] == fs


def test_streams_of_another_host_join_the_timeline_with_its_clock_offset(tmp_path):
    shift = 7_200_000_000_000  # the Kinect PC booted two hours before this one
    remote = {
        "enabled": True,
        "hosts": ["tcp://kinect-pc:5599"],
        "remote_streams": {"tcp://kinect-pc:5599": ["kin-color"]},
    }
    t = write_sync_session(tmp_path / "r", duration_s=3.0, sync=remote, kin_clock_shift_ns=shift)
    rep = build_report(t.root)
    assert rep["remote_streams"] == {"kin-color": {"offset_ns": -shift + 3_000}}  # the lowest round trip's
    ts = pd.read_csv(t.root / "sync" / "timestamps" / "kin-color.csv")
    err_ms = (ts["corrected_ns"].to_numpy() - t.extra["kin_truth_ns"]) / 1e6
    assert np.max(np.abs(err_ms)) < 0.5  # 90 frames: the drift is only known to some ppm
    assert rep["framesets"]["missing"]["kin-color"] <= 2
    # naming a host with no offset measured is an error that says what to do
    t2 = write_sync_session(tmp_path / "r2", duration_s=2.0, sync=remote)
    with pytest.raises(NotEnoughDataError, match="no clock offset.*hosts"):
        build_report(t2.root)


def test_av_check_measures_the_slate(session):
    res = av_check(session.root)
    truth_ms = (session.click_time_ns - session.flash_time_ns) / 1e6
    assert abs(res["av_offset_ms"] - truth_ms) < 0.5
    assert res["video"] == "kin-color" and res["audio"] == "mic"


def test_av_check_without_a_slate_says_what_to_do(tmp_path):
    t = write_sync_session(tmp_path / "quiet", duration_s=3.0)
    with pytest.raises(NotEnoughDataError, match="no flash found"):
        av_check(t.root, video="kin-color")


def test_command_line_writes_the_report(session):
    r = subprocess.run(
        [sys.executable, "-m", "mestudio", "sync", str(session.root), "--av-check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "frame sets" in r.stdout and "AV check: click - flash = -16.8" in r.stdout
    assert json.loads((session.root / "sync" / "report.json").read_text())["source"] == "offline"
    bad = subprocess.run(
        [sys.executable, "-m", "mestudio", "sync", str(session.root / "nope")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "no such session" in bad.stderr


def test_sync_settings_reject_unknown_keys_naming_them():
    assert load_sync_settings({"enabled": True, "trigger_rate_hz": 30}).trigger_rate_hz == 30
    with pytest.raises(ConfigError, match=r"\[sync\].*chirp.f0: unknown key"):
        load_sync_settings({"chirp": {"f0": 100}})
    with pytest.raises(ValueError, match="trigger_rate_hz"):
        load_sync_settings({"trigger_rate_hz": -1})
