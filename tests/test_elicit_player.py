"""The clip player: PyAV decoding, pyaudio output (JACK dummy, ALSA null/file, none) and its clock."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mestudio.elicit.audio_out import SoundSystem
from mestudio.elicit.democlips import FPS, cached_path, write_clip
from mestudio.elicit.errors import AudioOutputError
from mestudio.elicit.player import ClipPlayer, fit_size
from mestudio.stream.bus import wait_for


@pytest.fixture
def marks_clip(clip_cache):
    p = cached_path("waves", 2.0, "marks", marks=True)
    if not p.is_file():
        write_clip(p, "waves", 2.0, marks=True)
    return p


def play(player: ClipPlayer, timeout_s: float = 10.0) -> tuple[list, float]:
    """Run the player like the window does; (pts, lateness s) per shown frame, and the wall time."""
    shown = []
    t0 = time.monotonic()
    player.start()
    while not player.ended and time.monotonic() - t0 < timeout_s:
        f = player.due_frame()
        if f is not None:
            shown.append((f.pts, player.media_time() - f.pts))
        time.sleep(min(player.next_due_in(), 0.004))
    return shown, time.monotonic() - t0


def beep_onsets(sink) -> np.ndarray:
    """Sample numbers where the sound the ALSA file device received turns loud (left channel)."""
    pcm = np.frombuffer(sink.read_bytes(), np.int16).reshape(-1, 2)[:, 0].astype(np.float32)
    env = np.convolve(np.abs(pcm), np.ones(240) / 240, mode="same")
    loud = env > 0.5 * env.max()
    return np.flatnonzero(loud[1:] & ~loud[:-1])


def _settled(player: ClipPlayer) -> bool:
    """The clock has stopped: two readings 50 ms apart agree."""
    before = player.media_time()
    time.sleep(0.05)
    after = player.media_time()
    return before is not None and after is not None and abs(after - before) < 1e-3


def test_fit_size_keeps_aspect():
    assert fit_size((320, 240), (960, 600)) == (800, 600)
    assert fit_size((1920, 1080), (1280, 1024)) == (1280, 720)


def test_no_output_device_is_one_clear_line(no_sound):
    with pytest.raises(AudioOutputError) as e:
        SoundSystem()
    assert "no sound output device" in str(e.value) and "docs/elicit.md" in str(e.value)
    with pytest.raises(AudioOutputError, match="no sound output device matching 'studio-monitor'"):
        SoundSystem("studio-monitor")


def test_host_clock_shows_every_frame_on_time(marks_clip):
    p = ClipPlayer(marks_clip, None, fit=(160, 120))
    try:
        shown, wall = play(p)
        assert p.clock_source == "host" and p.out_size == (160, 120)
        assert len(shown) + p.dropped == 2 * FPS
        pts = [s[0] for s in shown]
        assert pts == sorted(pts) and pts[0] == 0.0
        # timing figures live in `mestudio bench elicit`; here: paced, not cut short, not hung
        assert 1.95 < wall < 10.0
        assert np.median([s[1] for s in shown]) < 0.25
    finally:
        p.close()


def test_pause_freezes_the_clock(marks_clip):
    p = ClipPlayer(marks_clip, None)
    try:
        p.start()
        assert p.media_time() is None  # the host clock starts with the first frame shown
        assert p.due_frame().index == 0
        assert wait_for(lambda: (p.media_time() or 0.0) > 0.2, 10)  # the clock runs
        p.pause()
        t = p.media_time()
        time.sleep(0.3)  # a frozen clock stays frozen, however long this takes
        assert p.media_time() == pytest.approx(t, abs=1e-3) and p.due_frame() is None
        p.resume()
        assert wait_for(lambda: p.media_time() > t + 0.05, 10)
    finally:
        p.close()


@pytest.mark.slow
def test_jack_output_clock_paces_the_picture(marks_clip, jack_server):
    snd = SoundSystem()
    p = ClipPlayer(marks_clip, snd)
    try:
        shown, wall = play(p)
        assert p.clock_source == "audio"
        assert len(shown) + p.dropped == 2 * FPS and p.dropped <= 3
        late = np.array([s[1] for s in shown])
        assert np.median(late) < 0.25 and 2.0 <= wall < 10.0
    finally:
        p.close()
        snd.close()


@pytest.mark.slow
def test_alsa_null_file_device_is_paced_and_gets_the_sound(marks_clip, alsa_file_sink):
    snd = SoundSystem()
    p = ClipPlayer(marks_clip, snd)
    try:
        shown, wall = play(p)
        assert "paced by elicit" in p.clock_source
        assert 1.9 < wall < 10.0 and len(shown) + p.dropped == 2 * FPS
    finally:
        p.close()
        snd.close()
    # the beeps of the clip (one per second, 50 ms of 1 kHz) are in what the device received
    onsets = beep_onsets(alsa_file_sink)
    # silence the player inserted when its decoder fell behind (a loaded machine) is counted, not hidden
    assert len(onsets) == 2 and abs((onsets[1] - onsets[0]) / 48000 - 1.0) < 0.005 + p.audio_gap_s


def test_a_decoder_that_falls_behind_is_counted_as_audio_gap(marks_clip, alsa_file_sink, monkeypatch):
    push = ClipPlayer._push_audio

    def slow_push(self, a, gain):  # decodes at about a third of real time once the clip has started
        if self._stream is not None:
            time.sleep(3.0 * a.size / 2 / 48000)  # (packed stereo: one row of 2 values a sample)
        push(self, a, gain)

    monkeypatch.setattr(ClipPlayer, "_push_audio", slow_push)
    snd = SoundSystem()
    p = ClipPlayer(marks_clip, snd, audio_ahead_s=0.3)  # the preroll holds 0.3 s, not the whole sound
    try:
        play(p, timeout_s=20.0)
    finally:
        p.close()
        snd.close()
    onsets = beep_onsets(alsa_file_sink)
    onsets = onsets[np.r_[True, np.diff(onsets) > 24000]]  # a beep that a gap cut in two is one beep
    gap = (onsets[1] - onsets[0]) / 48000 - 1.0
    assert len(onsets) == 2 and p.audio_gap_s > 0.1 and 0.05 < gap < p.audio_gap_s + 0.005


@pytest.mark.parametrize("late_s", [0.0, 0.1])
def test_drift_measurement_finds_a_planted_offset(clip_cache, late_s):
    from mestudio.elicit.drift import measure_file, pair_drift

    p = clip_cache / f"late-{late_s}.mp4"
    write_clip(p, "checker", 3.0, marks=True, size=(160, 120), sound_late_s=late_s)
    m = measure_file(p)
    d = pair_drift(m["flashes_s"], m["beeps_s"])
    assert len(m["flashes_s"]) == 3 and len(m["beeps_s"]) == 3
    assert np.abs(d - late_s).max() < 0.002


@pytest.mark.slow
def test_pause_with_sound_freezes_the_audio_clock(marks_clip, jack_server):
    snd = SoundSystem()
    p = ClipPlayer(marks_clip, snd)
    try:
        p.start()
        assert wait_for(lambda: (p.media_time() or 0.0) > 0.3, 10)  # the sound card's clock runs
        p.pause()
        assert wait_for(lambda: _settled(p), 10)  # what was already in the device's buffer has played out
        t1 = p.media_time()
        time.sleep(0.4)  # a frozen clock stays frozen, however long this takes
        assert p.media_time() == pytest.approx(t1, abs=0.002) and p.due_frame() is None
        p.resume()
        assert wait_for(lambda: p.media_time() > t1 + 0.2, 10)
    finally:
        p.close()
        snd.close()
