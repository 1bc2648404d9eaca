"""Short demo clips (moving image + sound) generated with PyAV at run time into a cache folder.

Nothing binary is shipped: `ensure_clip` writes the file the first time a protocol needs it.
With ``marks=True`` (the drift benchmark) every whole second has a white patch in the top-left
corner on its first frame and a 1 kHz beep starting on the same instant, so audio/video drift
can be measured from the decoded file and from what the player presents.
"""

from __future__ import annotations

import hashlib
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

SIZE = (320, 240)
FPS = 30
RATE = 48000
MARK_PX = 24
BEEP_S = 0.05
VERSION = 1  # bump when the pictures or sounds change, so caches regenerate
STYLE_TONES = {"waves": 220.0, "ball": 330.0, "checker": 262.0, "rings": 392.0}


def cache_dir() -> Path:
    base = os.environ.get("MESTUDIO_CACHE") or Path.home() / ".cache" / "mestudio"
    return Path(base) / "clips"


def cached_path(
    style: str, duration_s: float, clip_id: str, marks: bool = False, size: tuple[int, int] = SIZE, fps: int = FPS
) -> Path:
    key = f"{style}-{duration_s:g}-{marks}-{size}-{fps}-v{VERSION}"
    return cache_dir() / f"{clip_id}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.mp4"


def picture(style: str, i: int, size: tuple[int, int] = SIZE, fps: int = FPS) -> np.ndarray:
    """Frame ``i`` of a style as an RGB uint8 (h, w, 3) array; smooth motion, saturated colours."""
    w, h = size
    t = i / fps
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if style == "waves":
        v = np.sin(x / 17.0 + 2.1 * t) + np.sin(y / 23.0 - 1.3 * t) + np.sin((x + y) / 31.0 + 0.7 * t)
        rgb = np.stack([0.5 + 0.5 * np.sin(v), 0.5 + 0.5 * np.sin(v + 2.1), 0.5 + 0.5 * np.sin(v + 4.2)], -1)
    elif style == "ball":
        cx = w / 2 + (w / 2 - 40) * np.sin(1.7 * t)
        cy = h / 2 + (h / 2 - 40) * np.abs(np.sin(2.3 * t)) - (h / 4)
        d = np.hypot(x - cx, y - cy)
        ball = (d < 30).astype(np.float32)
        rgb = np.stack([0.15 + 0.85 * ball, 0.2 + 0.6 * ball * (y / h), 0.45 * (1 - ball) + 0.1], -1)
    elif style == "checker":
        c = (np.floor((x + 40 * t) / 32) + np.floor((y + 25 * t) / 32)) % 2
        rgb = np.stack([0.2 + 0.6 * c, 0.5 + 0.3 * c, 0.8 - 0.5 * c], -1)
    else:  # rings
        d = np.hypot(x - w / 2, y - h / 2)
        v = 0.5 + 0.5 * np.sin(d / 9.0 - 3.0 * t)
        rgb = np.stack([v, 0.3 + 0.4 * (1 - v), 0.6 * v + 0.2], -1)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def sound(style: str, start: int, n: int, marks: bool) -> np.ndarray:
    """Samples [start, start + n) of a style's soundtrack, float32 mono in [-1, 1]."""
    t = (start + np.arange(n)) / RATE
    f0 = STYLE_TONES.get(style, 220.0)
    s = 0.25 * np.sin(2 * np.pi * f0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    s += 0.1 * np.sin(2 * np.pi * f0 * 1.5 * t)
    if marks:
        s *= 0.3  # keep the beeps well above the bed for detection
        in_beep = (t % 1.0) < BEEP_S
        s += np.where(in_beep, 0.7 * np.sin(2 * np.pi * 1000.0 * t), 0.0)
    return s.astype(np.float32)


def write_clip(
    path: Path,
    style: str,
    duration_s: float,
    *,
    marks: bool = False,
    title: str = "",
    size: tuple[int, int] = SIZE,
    fps: int = FPS,
    sound_late_s: float = 0.0,
) -> Path:
    """Encode a clip (MPEG-4 video + AAC sound in MP4) atomically at ``path``.

    ``sound_late_s`` delays the soundtrack against the picture (to check drift measurements)."""
    import av
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.mp4")
    n_frames = int(round(duration_s * fps))
    try:
        with av.open(str(tmp), "w") as out:
            vs = out.add_stream("mpeg4", rate=fps)
            vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
            vs.bit_rate = 1_500_000
            vs.codec_context.time_base = Fraction(1, fps)
            aus = out.add_stream("aac", rate=RATE, layout="mono")
            spf = RATE // fps  # audio samples per video frame (1600 at 30 fps)
            a_pts = 0
            for i in range(n_frames):
                img = picture(style, i, size, fps)
                if title:
                    cv2.putText(
                        img, title, (12, size[1] - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA
                    )
                if marks and i % fps == 0:
                    img[:MARK_PX, :MARK_PX] = 255
                elif marks:
                    img[:MARK_PX, :MARK_PX] = 0
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts = i
                vf.time_base = Fraction(1, fps)
                for pkt in vs.encode(vf):
                    out.mux(pkt)
                samples = sound(style, a_pts - int(round(sound_late_s * RATE)), spf, marks)
                af = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
                af.sample_rate = RATE
                af.pts = a_pts
                af.time_base = Fraction(1, RATE)
                a_pts += spf
                for pkt in aus.encode(af):
                    out.mux(pkt)
            for s in (vs, aus):
                for pkt in s.encode(None):
                    out.mux(pkt)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def ensure_clip(style: str, duration_s: float, clip_id: str, title: str = "") -> Path:
    """The cached clip for a protocol entry, generated first if missing."""
    p = cached_path(style, duration_s, clip_id)
    if not p.is_file():
        write_clip(p, style, duration_s, title=title)
    return p
