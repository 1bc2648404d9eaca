"""Speech awareness: voice activity on the microphone; mouth-only movements while talking are
suppressed (or marked), expressions of the upper face kept; real clips in ../shared."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import lfilter

from mestudio.analysis.speech import SpeechTimeline, mouth_only, voice_segments
from mestudio.stream.session import FORMAT
from mestudio.stream.session_writer import SessionWriter
from tests.analysis_fixtures import VIDEOS, needs_shared, read_video_gray
from tests.conftest import mestudio

RATE = 16000


def speech_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Voiced syllables: a glottal pulse train (f0 ~120 Hz) through two formant resonators that
    change every syllable (0.2 s, raised-cosine envelope, 50 ms pauses between syllables)."""
    n = int(seconds * RATE)
    out = np.zeros(n)
    pos = 0
    while pos < n:
        syl = int(0.2 * RATE)
        f0 = 120 * (1 + 0.1 * rng.standard_normal())
        pulses = np.zeros(syl)
        pulses[:: max(1, int(RATE / f0))] = 1.0
        x = pulses
        for f, bw in ((rng.uniform(300, 800), 80), (rng.uniform(900, 2200), 120)):
            r = np.exp(-np.pi * bw / RATE)
            x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / RATE), r * r], x)
        seg = x * np.hanning(syl)
        seg *= rng.uniform(0.5, 1.0) / (np.abs(seg).max() + 1e-9)  # syllables of similar loudness
        out[pos : pos + syl] = seg[: n - pos]
        pos += syl + int(0.05 * RATE)
    return 0.3 * out


def room(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Room noise (-50 dB), a loud mains hum and a door's thump at 3.0 s: none of it is voice."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = 0.003 * rng.standard_normal(len(t)) + 0.2 * np.sin(2 * np.pi * 50 * t)
    thump = (t >= 3.0) & (t < 3.15)
    x[thump] += 0.6 * np.sin(2 * np.pi * 40 * t[thump]) * np.exp(-(t[thump] - 3.0) * 30)
    return x


def test_voice_is_found_where_it_was_put_and_the_room_is_not():
    rng = np.random.default_rng(0)
    x = room(7.0, rng)
    for a, b in ((1.0, 2.5), (4.0, 5.2)):
        x[int(a * RATE) : int(a * RATE) + int((b - a) * RATE)] += speech_like(b - a, rng)
    segs = voice_segments(x, RATE)
    assert len(segs) == 2, segs
    for (a, b), (sa, sb) in zip(((1.0, 2.5), (4.0, 5.2)), segs):
        assert abs(sa - a) < 0.1 and abs(sb - b) < 0.15
    assert voice_segments(room(7.0, rng), RATE) == []


def test_which_movements_speech_explains():
    assert mouth_only([25, 26]) and mouth_only([]) and mouth_only([12])
    assert not mouth_only([6, 12]) and not mouth_only([1, 2, 25])
    tl = SpeechTimeline([(1.0, 2.0), (3.0, 4.0)])
    assert tl.during(1.2, 1.8) and not tl.during(2.0, 3.0) and tl.coverage(1.5, 3.5) == pytest.approx(0.5)


def _session(root, frames, fps, audio):
    root.mkdir()
    devices = [{"name": "face", "kind": "synthetic-camera", "fps": fps}, {"name": "mic", "kind": "audio"}]
    (root / "manifest.json").write_text(json.dumps({"format": FORMAT, "devices": devices, "config": {"analyzer": {}}}))
    w = SessionWriter(root)
    s = w.stream("face", "|u1", frames[0].shape, "mono8")
    for i, f in enumerate(frames):
        s.append(i, None, int(i * 1e9 / fps), f.tobytes())
    block = 800  # 50 ms blocks, each stamped with its first sample's host time (as capture/audio.py)
    m = w.stream("mic", "<i2", (block, 1), "s16le")
    m.describe({"media": "audio", "rate_hz": RATE / block, "settings": {"sample_rate": RATE, "channels": 1}})
    pcm = np.clip(audio * 32767, -32768, 32767).astype(np.int16)
    for k in range(len(pcm) // block):
        m.append(k, None, int(k * block * 1e9 / RATE), pcm[k * block : (k + 1) * block].tobytes())
    w.close()
    return root


@pytest.mark.slow
def test_a_smile_while_talking_is_kept_in_a_session_with_a_microphone(tmp_path):
    """The real smile clip recorded as a session with the participant talking throughout: its
    smile (AU6+AU12, a cheek raise speech does not make) is still an event."""
    frames, fps = read_video_gray(needs_shared(VIDEOS / "pyfeat_single_face.mp4"))
    seconds = len(frames) / fps
    rng = np.random.default_rng(1)
    root = _session(tmp_path / "s", frames, fps, room(seconds, rng) * 0.1 + speech_like(seconds, rng))
    r = mestudio("analyze", str(root), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    sp = rep["speech"]
    assert sp["source"] == "mic" and sp["seconds"] >= 0.8 * seconds and sp["mode"] == "suppress"
    assert any(12 in e["aus"] and 6 in e["aus"] and e["emotion"] == "Positive" for e in rep["events"]), rep


@pytest.mark.slow
def test_speech_awareness_on_the_neutral_talking_clip(tmp_path, capsys):
    """openface_neutral_talk.avi ("one frontal face talking, mostly neutral") with a voice track
    over its whole length (the clip has no audio of its own), muxed into one file: every spot is
    false; speech awareness must bring them to 5 per minute or fewer, and say how many it took."""
    import av

    frames, fps = read_video_gray(needs_shared(VIDEOS / "openface_neutral_talk.avi"))
    seconds = len(frames) / fps
    rng = np.random.default_rng(2)
    voice = (room(seconds, rng) * 0.05 + speech_like(seconds, rng)).astype(np.float32)
    path = tmp_path / "talking.mkv"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("ffv1", rate=int(round(fps)))
        vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], "gray"
        aus = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
        for f in frames:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(f, format="gray")))
        out.mux(vs.encode())
        pcm = np.clip(voice * 32767, -32768, 32767).astype(np.int16)
        for k in range(0, len(pcm), 1024):
            af = av.AudioFrame.from_ndarray(pcm[None, k : k + 1024], format="s16", layout="mono")
            af.sample_rate = RATE
            out.mux(aus.encode(af))
        out.mux(aus.encode())
    rates = {}
    for mode in ("off", "suppress"):
        r = mestudio("analyze", str(path), "--json", "--speech", mode, timeout=300)
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        assert rep["frames"] == len(frames) and rep["frames_with_face"] >= 0.95 * len(frames)
        spots = [e for e in rep["events"] if e["kind"] in ("micro", "macro")]
        rates[mode] = (len(spots) / (seconds / 60), rep["speech"], rep["head_motion_suppressed"])
    off, (on, speech, head) = rates["off"][0], rates["suppress"]
    with capsys.disabled():
        print(
            f"\nneutral talking clip: {off:.1f} false spots/min without speech awareness, {on:.1f} with it "
            f"({speech['suppressed']} suppressed, {speech['seconds']:.1f} s of speech found; "
            f"{head} more suppressed as head rotation in both runs)"
        )
    assert speech["seconds"] >= 0.8 * seconds and rates["off"][1]["suppressed"] == 0
    assert on <= 5.0 and speech["suppressed"] >= 1


LIVE_CONFIG = """
[session]
name = "sp"
[transport]
heartbeat_s = 0.2
[[devices]]
name = "face"
kind = "synthetic-camera"
width = 320
height = 240
fps = 30
source = "face"
[[devices]]
name = "mic"
kind = "synthetic-audio"
[analyzer]
enabled = true
"""


@pytest.mark.slow
def test_the_live_analyzer_listens_to_the_microphone_and_offline_agrees(tmp_path):
    from mestudio.analysis.analyzer.offline import analyze_session, compare_live
    from mestudio.analysis.evaluation.compare import recorded_results

    cfg = tmp_path / "sp.toml"
    cfg.write_text(LIVE_CONFIG)
    r = mestudio("run", str(cfg), "--duration", "6", "--out", str(tmp_path / "out"), "--quiet", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    session = next((tmp_path / "out").glob("*/manifest.json")).parent
    bodies = recorded_results(session)
    start, stop = bodies[0], bodies[-1]
    assert stop["type"] == "stop" and stop["audio_blocks"] > 0  # the mic's blocks reached the VAD live
    rep = analyze_session(session, start_seq=start["first_seq"])
    assert rep["speech"]["source"] == "mic" and rep["speech"]["mode"] == "suppress"
    if stop["gaps"] == 0:
        assert compare_live(rep["events"], bodies)["identical"]
