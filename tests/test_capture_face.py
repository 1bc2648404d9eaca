"""The synthetic face rig: its script (the ground truth) and frames that show it."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from mestudio.capture.face import anatomy
from mestudio.capture.face.devices import SCRIPT_FILE, SyntheticFaceCamera
from mestudio.capture.face.render import FaceView, source_depth_mm, source_gray
from mestudio.capture.face.script import AUS, FaceEvent, FaceScript, default_script
from mestudio.capture.registry import create_device
from mestudio.config import schema as S


# -- the script -----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_default_script_spreads_micro_and_macro_events_with_neutral_gaps(seed):
    s = default_script(300, seed)
    expr = s.expressions()
    micro = [e for e in expr if e.kind == "micro"]
    macro = [e for e in expr if e.kind == "macro"]
    assert len(micro) >= 20 and len(macro) >= 10
    assert all(e.duration_s < 0.5 for e in micro)
    assert all(0.5 <= e.duration_s <= 4.0 for e in macro)
    for a, b in zip(expr, expr[1:]):
        assert b.onset_s - a.offset_s >= 1.0 - 1e-9, (a, b)
    assert expr[0].onset_s >= 1.0 and expr[-1].offset_s <= 300
    blinks = [e for e in s.events if e.kind == "blink"]
    heads = [e for e in s.events if e.kind == "head"]
    assert blinks and heads
    for d in blinks + heads:  # distractors stay clear of the expressions
        assert all(d.offset_s <= e.onset_s - 0.3 + 1e-9 or d.onset_s >= e.offset_s + 0.3 - 1e-9 for e in expr)
    used = {au for e in expr for au in e.aus}
    assert used <= set(AUS) and len(used) >= 8
    assert all(e.onset_s < e.apex_s < e.offset_s for e in s.events)


def test_script_is_reproducible_from_its_seed():
    assert default_script(120, 3).to_json() == default_script(120, 3).to_json()
    assert default_script(120, 3).to_json() != default_script(120, 4).to_json()


def test_script_json_round_trip_and_version_check(tmp_path):
    s = default_script(60, 2)
    s.epoch_host_ns, s.rendered_until_s = 123, 45.5
    p = s.save(tmp_path / "gt" / "face_script.json")
    back = FaceScript.load(p)
    assert back.events == s.events and back.epoch_host_ns == 123 and back.rendered_until_s == 45.5
    body = json.loads(p.read_text())
    assert set(body["events"][0]) >= {"kind", "aus", "onset_s", "apex_s", "offset_s", "intensity"}
    body["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        FaceScript.from_json(json.dumps(body))


def test_event_level_rises_to_apex_and_falls_to_offset():
    e = FaceEvent("micro", [12], 1.0, 1.1, 1.4, 0.8)
    levels = [e.level(t) for t in np.linspace(1.0, 1.4, 41)]
    assert levels[0] == 0 and levels[-1] == 0
    assert max(levels) == pytest.approx(0.8) and int(np.argmax(levels)) == 10
    assert all(np.diff(levels[:11]) >= 0) and all(np.diff(levels[10:]) <= 0)
    with pytest.raises(ValueError, match="onset <= apex"):
        FaceEvent("micro", [12], 1.0, 0.9, 1.4)
    with pytest.raises(ValueError, match="not animated"):
        FaceEvent("macro", [9], 1.0, 1.5, 2.0)


# -- frames show the script -----------------------------------------------------------------
def _out_xy(name: str, view: FaceView) -> tuple[float, float]:
    sx, sy = anatomy.LANDMARKS[name]
    cx, cy = anatomy.FACE_CENTRE
    return (sx - cx) * view.scale + view.width / 2, (sy - cy) * view.scale + view.height / 2


# AU -> (landmark, expected sign of the vertical motion there: -1 up, +1 down)
AU_MOTION = {
    1: ("r_brow_in", -1),
    2: ("r_brow_out", -1),
    4: ("r_brow_in", +1),
    6: ("r_cheek", -1),
    7: ("r_lid_low", -1),
    12: ("r_mouth", -1),
    15: ("r_mouth", +1),
    17: ("chin", -1),
    45: ("r_eye", +1),
}


@pytest.fixture(scope="module")
def view():
    return FaceView(640, 480, seed=0)


@pytest.mark.parametrize("au", sorted(AU_MOTION))
def test_each_au_moves_its_region_a_few_pixels_the_right_way(view, au):
    t, tick = 1.0, 5
    neutral = view.render(FaceScript([], 10), t, tick, source_gray())
    active = view.render(FaceScript([FaceEvent("macro", [au], 0.5, 1.0, 1.5, 1.0)], 10), t, tick, source_gray())
    flow = cv2.calcOpticalFlowFarneback(neutral, active, None, 0.5, 3, 15, 5, 5, 1.1, 0)
    x, y = (int(round(v)) for v in _out_xy(AU_MOTION[au][0], view))
    region = flow[y - 6 : y + 7, x - 6 : x + 7]
    dy = float(np.median(region[..., 1]))
    mag = float(np.percentile(np.hypot(flow[..., 0], flow[..., 1])[y - 12 : y + 13, x - 12 : x + 13], 95))
    assert np.sign(dy) == AU_MOTION[au][1], (au, dy)
    assert 1.5 < mag < 15, (au, mag)
    # far from the face nothing moves
    far = np.hypot(flow[..., 0], flow[..., 1])[:60, :60]
    assert float(far.max()) < 0.3


def test_au14_pulls_the_lip_corners_inwards(view):
    t = 1.0
    neutral = view.render(FaceScript([], 10), t, 0, source_gray())
    active = view.render(FaceScript([FaceEvent("macro", [14], 0.5, 1.0, 1.5)], 10), t, 0, source_gray())
    flow = cv2.calcOpticalFlowFarneback(neutral, active, None, 0.5, 3, 15, 5, 5, 1.1, 0)
    (rx, ry), (lx, ly) = (tuple(int(round(v)) for v in _out_xy(n, view)) for n in ("r_mouth", "l_mouth"))
    assert np.median(flow[ry - 5 : ry + 6, rx - 5 : rx + 6, 0]) > 0.8  # image-left corner moves right
    assert np.median(flow[ly - 5 : ly + 6, lx - 5 : lx + 6, 0]) < -0.8


def test_head_event_moves_the_head_not_the_background(view):
    ev = FaceEvent("head", [], 0.0, 1.0, 2.0, 1.0, params={"dx_px": 6.0, "dy_px": 0.0, "roll_deg": 0.0})
    a = view.render(FaceScript([], 10), 1.0, 0, source_gray())
    b = view.render(FaceScript([ev], 10), 1.0, 0, source_gray())
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 21, 5, 5, 1.1, 0)
    x, y = (int(v) for v in _out_xy("nose_tip", view))
    assert np.median(flow[y - 20 : y + 20, x - 20 : x + 20, 0]) == pytest.approx(6.0, abs=1.0)
    assert np.abs(flow[:40, :80]).max() < 0.3


def test_noise_and_lighting_drift_change_frames_but_not_much(view):
    s = FaceScript([], 100)
    a = view.render(s, 1.0, 1, source_gray()).astype(np.int16)
    b = view.render(s, 1.0, 2, source_gray()).astype(np.int16)  # other noise
    c = view.render(s, 12.0, 1, source_gray()).astype(np.int16)  # other light (and drift)
    assert 1.0 < np.abs(a - b).mean() < 5.0
    assert abs(float(a.mean() - c.mean())) > 0.3


def test_depth_map_is_a_face_in_front_of_a_wall(view):
    d = view.render_depth(view.sampling_map(FaceScript([], 1), 0.0), 0)
    assert d.dtype == np.uint16 and d.shape == (480, 640)
    nx, ny = (int(v) for v in _out_xy("nose_tip", view))
    cx, cy = (int(v) for v in _out_xy("r_cheek", view))
    assert 700 < d[ny, nx] < 900 and d[ny, nx] + 10 < d[cy, cx] < 950
    assert d[5, 5] > 1700  # the wall
    assert source_depth_mm().min() > 0


def test_array_views_differ_by_viewpoint():
    s = FaceScript([], 1)
    views = [FaceView(320, 240, yaw, seed=0).render(s, 0.0, 0, source_gray()) for yaw in (-15, 0, 15)]
    assert np.abs(views[0].astype(int) - views[2]).mean() > 5


# -- the device writes its script as ground truth -------------------------------------------
def test_face_camera_writes_ground_truth_and_frames_follow_the_script_clock(tmp_path):
    spec = S.SyntheticCamera(
        name="face",
        kind="synthetic-camera",
        source="face",
        width=320,
        height=240,
        fps=60,
        seed=5,
        script_duration_s=120,
    )
    dev = create_device(spec)
    assert isinstance(dev, SyntheticFaceCamera)
    dev.session_dir = tmp_path
    with dev:
        frames = []
        while len(frames) < 10:
            frames += dev.read(0.5)
        first_host = frames[0].host_time_ns
    gt = FaceScript.load(tmp_path / "ground_truth" / SCRIPT_FILE)
    assert gt.events == default_script(120, 5).events == dev.ground_truth().events
    assert gt.seed == 5 and gt.epoch_host_ns <= first_host
    assert gt.device_t0_host_ns == gt.epoch_host_ns  # no shared epoch: script time = device time
    assert dev.script_time(frames[3].seq) == pytest.approx(frames[3].device_time_ns / 1e9, abs=1e-9)
    assert gt.rendered_until_s == pytest.approx(frames[-1].seq / 60, abs=2 / 60)
    assert (tmp_path / "ground_truth" / "face_script-face.json").is_file()


def test_shared_epoch_makes_two_devices_show_the_same_moment(tmp_path):
    epoch = time.monotonic_ns()
    devs = []
    for name in ("a", "b"):
        d = create_device(
            S.SyntheticCamera(name=name, kind="synthetic-camera", source="face", width=160, height=120, fps=50)
        )
        d.script_epoch_ns = epoch
        devs.append(d)
    with devs[0] as a, devs[1] as b:
        fa, fb = a.read(0.5)[0], b.read(0.5)[0]
        ta, tb = a.script_time(fa.seq), b.script_time(fb.seq)
    assert ta >= 0 and tb >= 0 and abs(ta - tb) < 1.0
    assert a.ground_truth().epoch_host_ns == b.ground_truth().epoch_host_ns == epoch


def test_bench_reports_render_rates_for_every_device_size():
    from mestudio.benches.capture import face_render_rates

    out = face_render_rates(3)
    rates = out["renders_per_s_one_core"]
    assert set(rates) == {
        "face 640x480 mono8",
        "kinect 640x480 rgb8+depth16",
        "rig view 800x600 mono8",
        "basler view 1600x1200 mono8",
    }
    assert all(r > 0 for r in rates.values()) and out["demo_rig_cores_needed"] > 0


def test_unknown_source_is_a_config_error_naming_the_key(tmp_path):
    from mestudio.config.errors import ConfigError
    from mestudio.config.loader import load_session_config

    p = tmp_path / "bad.toml"
    p.write_text('[[devices]]\nname = "face"\nkind = "synthetic-camera"\nsource = "faces"\n')
    with pytest.raises(ConfigError, match=r"devices\[0\]\.source.*'pattern', 'face', 'face3d' or 'charuco'"):
        load_session_config(p)
