"""Write a fakenect dump (what ``fakenect-record`` writes) of the synthetic face rig.

INDEX.txt lists ``d-<time>-<timestamp>.pgm`` (640x480 raw 11-bit depth, native-endian uint16 after
a one-line header) and ``r-<time>-<timestamp>.ppm`` (640x480 RGB); <time> is the recording host's
seconds, which fakenect uses to pace the replay, <timestamp> the Kinect's 60 MHz frame clock.
"""

from __future__ import annotations

from pathlib import Path

from mestudio.capture.face.render import FaceView, source_rgb
from mestudio.capture.face.script import FaceScript, default_script
from mestudio.capture.freenect_kinect import TICKS_PER_S, H, W, mm_to_raw

FPS = 30


def write_face_dump(
    folder: str | Path, n_frames: int, script: FaceScript | None = None, start_tick: int = 1_000_000
) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    script = script or default_script(n_frames / FPS + 1.0, seed=0)
    view = FaceView(W, H, 0.0, seed=9)
    lines = []
    for k in range(n_frames):
        t = k / FPS
        tick = (start_tick + k * TICKS_PER_S // FPS) % 2**32
        smap = view.sampling_map(script, t)
        raw = mm_to_raw(view.render_depth(smap, k))
        rgb = view.render(script, t, k, source_rgb(), smap)
        d_name, r_name = f"d-{1000 + t:.6f}-{tick}.pgm", f"r-{1000 + t + 0.002:.6f}-{tick}.ppm"
        (folder / d_name).write_bytes(f"P5 {W} {H} 65535\n".encode() + raw.astype("=u2").tobytes())
        (folder / r_name).write_bytes(f"P6 {W} {H} 255\n".encode() + rgb.tobytes())
        lines += [d_name, r_name]
    (folder / "INDEX.txt").write_text("\n".join(lines) + "\n")
    return folder
