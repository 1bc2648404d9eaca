"""`mestudio export --what xdf`: pyxdf (LabRecorder's reader) loads the file with every stream at
its known time, the LSL stream's clock offsets included."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mestudio.interop.errors import XDFError
from mestudio.interop.xdf import XDFStream, XDFWriter
from tests.conftest import mestudio
from tests.interop_session import EEG_CH, EEG_N, MIC_BLOCK, MIC_N, MIC_RATE, build_session

pyxdf = pytest.importorskip("pyxdf")


@pytest.fixture
def exported(tmp_path):
    b = build_session(tmp_path / "S")
    r = mestudio("export", str(b.root), "--what", "xdf", "--out", str(tmp_path / "x"), "--json")
    assert r.returncode == 0, r.stderr
    path = tmp_path / "x" / "S.xdf"
    assert json.loads(r.stdout)["written"]["xdf"][0] == str(path)
    return b, path


def by_name(streams) -> dict:
    return {s["info"]["name"][0]: s for s in streams}


def test_lsl_stream_comes_back_on_the_host_clock_through_its_clock_offsets(exported):
    b, path = exported
    synced = by_name(pyxdf.load_xdf(str(path), synchronize_clocks=True, dejitter_timestamps=False)[0])
    raw = by_name(pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)[0])
    eeg = synced["BioSemi"]
    assert eeg["info"]["type"] == ["EEG"] and eeg["info"]["source_id"] == ["amp-42"]
    assert int(eeg["info"]["channel_count"][0]) == EEG_CH and eeg["info"]["channel_format"] == ["float32"]
    labels = [c["label"][0] for c in eeg["info"]["desc"][0]["channels"][0]["channel"]]
    assert labels == ["Fz", "Cz", "Pz", "Oz"]
    assert np.array_equal(eeg["time_series"], b.eeg_values)
    # as written: the sender's clock; with the offsets applied: ours.  pyxdf evaluates its line
    # through the offsets at the sender's timestamps, not at ours: 50 ppm x 2.5 s = 125 us of error
    assert np.abs(raw["BioSemi"]["time_stamps"] - b.eeg_dev / 1e9).max() < 1e-6
    err = np.abs(eeg["time_stamps"] - b.eeg_host / 1e9)
    assert err.max() < 2.5 * 50e-6 + 2e-6 and err.max() < 1e-3
    assert int(eeg["footer"]["info"]["sample_count"][0]) == EEG_N
    mk = synced["PsychoPy"]
    assert [v[0] for v in mk["time_series"]] == [label for _, label in b.markers]
    assert np.abs(mk["time_stamps"] - [h / 1e9 for h, _ in b.markers]).max() < 1e-5


def test_audio_video_index_markers_and_analyzer_streams(exported):
    b, path = exported
    s = by_name(pyxdf.load_xdf(str(path), dejitter_timestamps=False)[0])
    mic = s["mic"]
    assert float(mic["info"]["nominal_srate"][0]) == MIC_RATE
    assert np.array_equal(mic["time_series"][:, 0], b.mic_samples.reshape(-1))
    first = b.mic_host[0] / 1e9 - MIC_BLOCK / MIC_RATE  # a block's host time is its last sample's arrival
    assert abs(mic["time_stamps"][0] - first) < 1e-6 and len(mic["time_stamps"]) == MIC_N * MIC_BLOCK
    assert np.allclose(np.diff(mic["time_stamps"][:MIC_BLOCK]), 1 / MIC_RATE)
    frames = s["face-frames"]
    assert frames["info"]["desc"][0]["video_file"] == ["face.mkv"]
    assert frames["time_series"][:, 0].tolist() == list(range(len(b.face_seq)))
    assert frames["time_series"][:, 1].tolist() == b.face_seq
    assert np.abs(frames["time_stamps"] - np.array(b.face_host) / 1e9).max() < 1e-6
    marks = [json.loads(v[0]) for v in s["mestudio-markers"]["time_series"]]
    assert [m["topic"] for m in marks] == ["markers/elicit", "command/mark", "markers/elicit"]
    assert marks[0]["event"] == "clip_onset" and marks[1]["text"] == "participant moved"
    ev = s["mestudio-analyzer-events"]
    body = json.loads(ev["time_series"][0][0])
    assert body["aus"] == [1, 2] and abs(ev["time_stamps"][0] - body["onset_s"]) < 1e-6
    tr = s["mestudio-analyzer-trace"]
    assert tr["time_series"][:, 0].tolist() == [0, 1, 2] and tr["time_series"][:, 1].tolist() == [0.1, 0.5, 0.25]


def test_pyxdf_defaults_load_it_and_bad_samples_are_refused(exported, tmp_path):
    _, path = exported
    streams, header = pyxdf.load_xdf(str(path))  # dejittering, clock sync: LabRecorder users' defaults
    assert header["info"]["version"] == ["1.0"] and len(streams) == 7
    with XDFWriter(tmp_path / "bad.xdf") as x:
        sid = x.add_stream(XDFStream("s", "EEG", 2, 10.0, "float32"))
        with pytest.raises(XDFError, match="expected \\(3, 2\\)"):
            x.samples(sid, [0.0, 0.1, 0.2], np.zeros((3, 4)))
        with pytest.raises(ValueError, match="unknown channel format"):
            x.add_stream(XDFStream("t", "EEG", 1, 10.0, "float16"))


def test_stream_option_limits_the_session_streams(tmp_path):
    b = build_session(tmp_path / "S")
    r = mestudio("export", str(b.root), "--what", "xdf", "--stream", "eeg", "--out", str(tmp_path / "x"))
    assert r.returncode == 0, r.stderr
    names = {s["info"]["name"][0] for s in pyxdf.load_xdf(str(tmp_path / "x" / "S.xdf"))[0]}
    assert names == {"BioSemi", "mestudio-markers", "mestudio-analyzer-events", "mestudio-analyzer-trace"}
