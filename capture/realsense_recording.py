"""Write a RealSense recording (.db3) of the synthetic face rig through librealsense's own recorder.

The recording is what a RealSense camera would have written: colour rgb8 and depth z16 (1 mm
units) with frame numbers, hardware-clock timestamps and intrinsics.  Tests and docs replay it
through capture/realsense.py.
"""

from __future__ import annotations

import time
from pathlib import Path

from mestudio.capture.face.render import FaceView, source_rgb
from mestudio.capture.face.script import FaceScript, default_script


def _stream(rs, kind, uid: int, width: int, height: int, fps: int, fmt, bpp: int):
    intr = rs.intrinsics()
    intr.width, intr.height = width, height
    intr.ppx, intr.ppy = width / 2, height / 2
    intr.fx = intr.fy = width * 0.9  # ~58 degrees horizontal field of view, like a D4xx colour camera
    intr.model = rs.distortion.none
    intr.coeffs = [0.0] * 5
    vs = rs.video_stream()
    vs.type, vs.index, vs.uid = kind, 0, uid
    vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = width, height, fps, bpp, fmt
    vs.intrinsics = intr
    return vs


def write_face_recording(
    path: str | Path,
    n_frames: int,
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    script: FaceScript | None = None,
    paced: bool = True,
) -> Path:
    """Record ``n_frames`` frames of the face rig to ``path`` (.db3); returns the path.

    The recorder stores when each frame reached it, and a real-time replay follows that, so
    ``paced`` feeds frames at ``fps`` (the recording takes its own duration to write)."""
    from mestudio.capture.realsense import import_rs

    rs = import_rs()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    script = script or default_script(n_frames / fps + 1.0, seed=0)
    view = FaceView(width, height, 0.0, seed=7)
    view.warm(source_rgb(), depth=True)  # before the clock starts: a late first frame makes a burst
    dev = rs.software_device()
    ds, cs = dev.add_sensor("Depth"), dev.add_sensor("Color")
    dp = ds.add_video_stream(_stream(rs, rs.stream.depth, 0, width, height, fps, rs.format.z16, 2))
    cp = cs.add_video_stream(_stream(rs, rs.stream.color, 1, width, height, fps, rs.format.rgb8, 3))
    ds.add_read_only_option(rs.option.depth_units, 0.001)
    dev.create_matcher(rs.matchers.default)
    recorder = rs.recorder(str(path), dev)
    queue = rs.frame_queue(n_frames * 2 + 4)
    ds.open(dp)
    cs.open(cp)
    ds.start(queue)
    cs.start(queue)
    keep = []  # librealsense reads the pixels later: keep the buffers alive until the end
    t0 = time.monotonic()
    for k in range(n_frames):
        if paced:
            time.sleep(max(0.0, t0 + k / fps - time.monotonic()))
        t = k / fps
        smap = view.sampling_map(script, t)
        color = view.render(script, t, k, source_rgb(), smap)
        depth = view.render_depth(smap, k)
        keep += [color, depth]
        for sensor, prof, arr, bpp in ((ds, dp, depth, 2), (cs, cp, color, 3)):
            f = rs.software_video_frame()
            f.pixels, f.bpp, f.stride = arr, bpp, width * bpp
            f.timestamp = t * 1000.0
            f.domain = rs.timestamp_domain.hardware_clock
            f.frame_number = k
            f.profile = prof.as_video_stream_profile()
            sensor.on_video_frame(f)
        if not paced:
            time.sleep(0.002)  # the recorder writes on its own thread
    ds.stop()
    cs.stop()
    ds.close()
    cs.close()
    del recorder  # closing the recorder finishes the file
    del keep
    return path
