"""AV check: find a slate (a flash in a video stream, a click in the audio) and report the offset.

The flash is the frame whose mean brightness rises the most over the frame before it (it must
stand far out of the frame-to-frame changes); the click is the first sample of the loudest
burst whose level rises above the track's noise.  Both are placed on the session timeline by the
sync report's clock models, so the offset measures what remains after synchronisation.  The
flash is only known to a frame period (it happened between two frames); the report says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mestudio.stream.session_reader import SessionReader
from mestudio.sync.audio_track import is_audio, read_track
from mestudio.sync.errors import NotEnoughDataError
from mestudio.sync.offline import fit_session_stream


def find_flash(means: np.ndarray, k: float = 8.0) -> int:
    """Index of the frame where brightness jumps up the most; raises when nothing stands out."""
    step = np.diff(np.asarray(means, np.float64))
    if len(step) < 3:
        raise NotEnoughDataError("the video has fewer than 4 frames: no flash to find")
    i = int(np.argmax(step))
    rest = np.delete(step, i)
    spread = np.median(np.abs(rest - np.median(rest))) * 1.4826 + 1e-6
    if step[i] < k * spread or step[i] < 10:
        raise NotEnoughDataError(
            "no flash found: no frame is much brighter than the one before it "
            "(film the slate so that it fills part of the view)"
        )
    return i + 1


def find_click(samples: np.ndarray, rate: int, k: float = 10.0) -> float:
    """First sample of the loudest click (a burst far above the noise), refined by its envelope."""
    x = np.abs(np.asarray(samples, np.float64))
    if len(x) < rate // 10:
        raise NotEnoughDataError("the audio track is shorter than 0.1 s: no click to find")
    peak = int(np.argmax(x))
    noise = np.median(x) * 1.4826 + 1e-9
    if x[peak] < k * noise:
        raise NotEnoughDataError(
            "no click found: nothing in the audio stands out of the noise (clap the slate close to the microphone)"
        )
    level = max(0.3 * x[peak], 5 * noise)
    lo = max(0, peak - rate // 20)  # the onset is within 50 ms before the loudest sample
    above = np.flatnonzero(x[lo : peak + 1] >= level)
    return float(lo + above[0])


def av_check(session_dir: str | Path, video: str | None = None, audio: str | None = None) -> dict:
    """Offset (audio click - video flash) in ms on the session timeline, and how each was found."""
    reader = SessionReader(session_dir)
    ids = reader.stream_ids()
    infos = {s: reader.stream(s).info for s in ids}
    audio = audio or next((s for s in ids if is_audio(infos[s])), None)
    video = video or next((s for s in ids if not is_audio(infos[s])), None)
    if audio is None or video is None:
        raise NotEnoughDataError(
            f"{session_dir}: an AV check needs a video and an audio stream (streams: {', '.join(ids) or 'none'})"
        )
    vr = reader.stream(video)
    means = np.array([float(np.mean(f)) for _, f in vr.frames()])
    k = find_flash(means)
    vfit = fit_session_stream(reader, video, 60.0)
    afit = fit_session_stream(reader, audio, 60.0)
    if vfit is None or afit is None:
        raise NotEnoughDataError(f"{session_dir}: an AV check needs at least two frames of {video} and of {audio}")
    t_flash = int(vfit.corrected_ns[k])
    period_ms = float(np.median(np.diff(vfit.corrected_ns))) / 1e6
    track = read_track(reader.stream(audio))
    s = find_click(track.samples, track.rate)
    t_click = float(afit.at(track.device_time_ns(track.first_sample + s))[0])
    return {
        "video": video,
        "audio": audio,
        "flash_frame_seq": int(vr.index["seq"][k]),
        "flash_time_ns": t_flash,
        "click_sample": track.first_sample + s,
        "click_time_ns": int(t_click),
        "av_offset_ms": round((t_click - t_flash) / 1e6, 3),
        "flash_uncertainty_ms": round(period_ms, 3),
        "note": "offset > 0: the click comes after the flash; the flash is known to one frame period",
    }
