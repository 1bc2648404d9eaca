"""`mestudio bench elicit`: audio/video drift over a 10-minute generated clip, and marker timing.

* file: a 10-minute clip with a flash and a beep every second (1 minute with --quick), decoded as
  the player decodes it; drift = beep time (audio samples counted, as the audio clock counts them)
  minus flash time (video pts), at every second.
* live: the first seconds of that clip (MESTUDIO_BENCH_ELICIT_LIVE_S, default 30; 8 with --quick)
  played for real: sound to the output device (a JACK dummy server is started when there is no
  device and jackd is installed), each frame shown when the audio clock reaches it.  Lateness =
  audio clock at hand-off minus the frame's pts; its change from the first to the last frames is
  the A/V drift.  Baseline, same run: how far a picture timed by the host clock would have drifted
  from the sound (host time elapsed minus audio clock elapsed).
* marker: clip onsets in the offscreen participant window (own process): marker time minus the
  end of the paint of that frame, and minus the start of its hand-off.
Targets: drift and lateness under one frame (33.3 ms at 30 fps); ratios are to that frame period.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import numpy as np

from mestudio.stream.spawn import module_command

HELP = "elicitation: audio/video drift over a 10-minute generated clip, marker vs frame hand-off"
FPS = 30
FRAME_MS = 1000 / FPS


def _ms(a) -> dict:
    a = np.asarray(a, dtype=float)
    if not len(a):
        return {"p50_ms": None, "p99_ms": None, "max_abs_ms": None}
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "max_abs_ms": round(float(np.abs(a).max()), 3),
    }


@contextmanager
def _sound_output():
    """(SoundSystem or None, what it is); starts a JACK dummy server only when nothing else exists."""
    from mestudio.elicit.audio_out import SoundSystem
    from mestudio.elicit.errors import AudioOutputError

    jack = None
    try:
        try:
            snd = SoundSystem()
            kind = snd.device_name
        except AudioOutputError:
            snd, kind = None, "none (host clock)"
            if shutil.which("jackd"):
                name = f"mesbench{uuid.uuid4().hex[:6]}"
                jack = subprocess.Popen(
                    [
                        "jackd",
                        "--no-realtime",
                        "-n",
                        name,
                        "-d",
                        "dummy",
                        "-r",
                        "48000",
                        "-p",
                        "512",
                        "-C",
                        "0",
                        "-P",
                        "2",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                os.environ["JACK_DEFAULT_SERVER"] = name
                end = time.monotonic() + 10
                while snd is None and time.monotonic() < end and jack.poll() is None:
                    time.sleep(0.3)
                    try:
                        snd = SoundSystem()
                        kind = f"{snd.device_name} (JACK dummy server started by the bench)"
                    except AudioOutputError:
                        pass
        yield snd, kind
        if snd is not None:
            snd.close()
    finally:
        if jack is not None:
            jack.terminate()
            jack.wait(timeout=10)


def _file_drift(clip, seconds: float) -> dict:
    from mestudio.elicit.drift import measure_file, pair_drift

    t = time.monotonic()
    m = measure_file(clip)
    d = pair_drift(m["flashes_s"], m["beeps_s"]) * 1000
    slope = float(np.polyfit(m["flashes_s"], d, 1)[0]) * 600 if len(d) > 2 else None
    worst = float(np.abs(d).max()) if len(d) else float("nan")
    return {
        "clip_s": seconds,
        "marks": int(len(d)),
        "flashes": int(len(m["flashes_s"])),
        "beeps": int(len(m["beeps_s"])),
        "drift_start_ms": round(float(d[0]), 3) if len(d) else None,
        "drift_end_ms": round(float(d[-1]), 3) if len(d) else None,
        "drift_max_abs_ms": round(worst, 3),
        "drift_slope_ms_per_10min": None if slope is None else round(slope, 3),
        "ratio_max_to_frame": round(worst / FRAME_MS, 4),
        "decode_s": round(time.monotonic() - t, 2),
    }


def _live(clip, seconds: float) -> dict:
    from mestudio.elicit.player import ClipPlayer

    with _sound_output() as (snd, kind):
        p = ClipPlayer(clip, snd)
        late, pts_at = [], []
        t_first = media_end = host_end = None
        try:
            p.start()
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds and not p.ended:
                f = p.due_frame()
                media_t = p.media_time()
                if f is not None and media_t is not None:
                    t_first = t_first or time.monotonic()
                    late.append((media_t - f.pts) * 1000)
                    pts_at.append(f.pts)
                time.sleep(min(p.next_due_in(), 0.004))
            host_end, media_end = time.monotonic(), p.media_time()
            clock = p.clock_source
            shown, dropped = p.shown, p.dropped
        finally:
            p.close()
    late_a = np.array(late)
    slope = float(np.polyfit(pts_at, late_a, 1)[0]) * 60 if len(late) > 10 else None
    k = max(1, min(300, len(late_a) // 4))
    ours = float(late_a[-k:].mean() - late_a[:k].mean()) if len(late_a) else float("nan")
    # the baseline: a picture timed by the host clock while the sound plays on the device's clock
    host_drift = ((host_end - t_first) - (media_end - pts_at[0])) * 1000 if t_first and media_end else float("nan")
    return {
        "output": kind,
        "clock": clock,
        "seconds": seconds,
        "frames_shown": shown,
        "frames_dropped": dropped,
        "lateness": _ms(late_a),
        "drift_slope_ms_per_min": None if slope is None else round(slope, 4),
        "av_drift_end_ms": round(ours, 3),
        "baseline_host_timed_drift_end_ms": round(host_drift, 3),
        "ratio_to_baseline": round(abs(ours) / abs(host_drift), 4) if abs(host_drift) > 1e-3 else None,
        "ratio_p99_to_frame": round(float(np.percentile(late_a, 99)) / FRAME_MS, 4) if len(late) else None,
    }


def _markers(n: int) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run(
        module_command("mestudio.elicit.bench_window", str(n)), capture_output=True, text=True, timeout=120, env=env
    )
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]}
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return {
        "onsets": d["onsets"],
        "marker_after_paint": _ms(d["marker_after_paint_ms"]),
        "marker_after_handoff_start": _ms(d["marker_after_due_ms"]),
        "ratio_max_to_frame": round(max(abs(x) for x in d["marker_after_due_ms"]) / FRAME_MS, 4),
        "exit_code": r.returncode,
    }


def run(args) -> dict:
    from mestudio.elicit.democlips import cached_path, write_clip

    quick = bool(getattr(args, "quick", False))
    seconds = 60.0 if quick else 600.0
    live_s = float(os.environ.get("MESTUDIO_BENCH_ELICIT_LIVE_S", 8 if quick else 30))
    clip = cached_path("waves", seconds, "bench-marks", marks=True, size=(160, 120))
    made = 0.0
    if not clip.is_file():
        t = time.monotonic()
        print(
            f"bench elicit: generating a {seconds:g} s clip with sync marks (cached in {clip.parent})",
            file=sys.stderr,
            flush=True,
        )
        write_clip(clip, "waves", seconds, marks=True, size=(160, 120))
        made = time.monotonic() - t
    return {
        "frame_ms": round(FRAME_MS, 3),
        "clip_generated_s": round(made, 1),
        "file": _file_drift(clip, seconds),
        "live": _live(clip, min(live_s, seconds)),
        "marker": _markers(4 if quick else 8),
    }
