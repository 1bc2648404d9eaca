"""File and replay backends return what was recorded: RealSense .db3 playback and OpenCV video files."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.capture.face.render import FaceView, source_rgb
from mestudio.capture.face.script import default_script
from mestudio.capture.registry import create_device
from mestudio.config import schema as S


def _drain(dev, limit_s: float = 10.0) -> list:
    import time

    frames, t0 = [], time.monotonic()
    while not dev.finished and time.monotonic() - t0 < limit_s:
        frames += dev.read(0.3)
    return frames


def test_realsense_playback_returns_the_recorded_frames_exactly(realsense_face_recording, tmp_path):
    dev = create_device(
        S.RealSenseCamera(name="rs", kind="realsense", file=str(realsense_face_recording), realtime=False)
    )
    dev.session_dir = tmp_path
    with dev:
        frames = _drain(dev)
    color = [f for f in frames if f.stream_id == "rs-color"]
    depth = [f for f in frames if f.stream_id == "rs-depth"]
    assert [f.seq for f in color] == list(range(20)) == [f.seq for f in depth]
    assert dev.dropped == 0
    # what capture/realsense_recording.py wrote: the face rig at 30 fps, same view seed
    script, view = default_script(20 / 30 + 1.0, seed=0), FaceView(320, 240, 0.0, seed=7)
    for k in (0, 7, 19):
        smap = view.sampling_map(script, k / 30)
        np.testing.assert_array_equal(color[k].data, view.render(script, k / 30, k, source_rgb(), smap))
        np.testing.assert_array_equal(depth[k].data, view.render_depth(smap, k))
        assert color[k].device_time_ns == pytest.approx(k / 30 * 1e9, abs=1e3)
    assert (tmp_path / "calibration" / "rs.json").is_file()
    assert dev.streams[1].settings["calibration"]["depth"]["fx"] == pytest.approx(288.0)


def test_video_file_frames_carry_media_time_and_loop_on(face_video):
    dev = create_device(S.OpenCVCamera(name="v", kind="opencv", source=str(face_video), loop=True))
    with dev:
        frames = []
        while len(frames) < 40:
            frames += dev.read(0.5)
        assert dev.streams[0].rate_hz == pytest.approx(30.0)
    assert [f.seq for f in frames] == list(range(40))  # the second pass continues the count
    times = np.array([f.device_time_ns for f in frames]) / 1e9
    np.testing.assert_allclose(times, np.arange(40) / 30, atol=1e-3)
    assert frames[0].data.shape == (240, 320) and frames[0].pixel_format == "mono8"


def test_video_file_without_loop_finishes(face_video):
    dev = create_device(S.OpenCVCamera(name="v", kind="opencv", source=str(face_video), pixel_format="bgr8"))
    with dev:
        frames = _drain(dev)
    assert len(frames) == 30 and frames[-1].seq == 29 and frames[0].data.shape == (240, 320, 3)


def test_realsense_loop_replays_again_with_numbers_continuing(realsense_face_recording):
    dev = create_device(
        S.RealSenseCamera(name="rs", kind="realsense", file=str(realsense_face_recording), realtime=False, loop=True)
    )
    color = []
    with dev:
        import time

        t0 = time.monotonic()
        while len(color) < 30 and time.monotonic() - t0 < 10:
            color += [f for f in dev.read(0.3) if f.stream_id == "rs-color"]
    assert [f.seq for f in color[:30]] == list(range(30))
    np.testing.assert_array_equal(color[20].data, color[0].data)  # the 20-frame recording again
    assert dev.dropped == 0


def test_realsense_realtime_replay_keeps_the_recorded_pace(realsense_face_recording):
    dev = create_device(S.RealSenseCamera(name="rs", kind="realsense", file=str(realsense_face_recording)))
    with dev:
        frames = [f for f in _drain(dev) if f.stream_id == "rs-depth"]
    seqs = [f.seq for f in frames]
    # real-time playback may skip a frame on a loaded machine: then it shows as a counted gap
    assert seqs == sorted(set(seqs)) and seqs[0] == 0 and seqs[-1] == 19
    assert 20 - len(seqs) <= dev.dropped
    span = (frames[-1].host_time_ns - frames[0].host_time_ns) / 1e9
    assert 0.45 < span < 1.5  # 19 frame periods at 30 fps = 0.63 s
