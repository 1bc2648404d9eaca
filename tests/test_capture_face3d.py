"""The 3D face rig: a mesh in millimetres whose AUs are muscle fields, written as PLY ground truth."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from mestudio.capture.face.mesh3d import FaceRig3D, face_mesh_at, landmarks3d, neutral_mesh, write_mesh_ply
from mestudio.capture.face.script import FaceEvent, FaceScript
from mestudio.stream.ply import PLYError, read_ply


def _nearest(mesh, lm_index: int) -> int:
    """The mesh vertex under a MediaPipe landmark (by its image position)."""
    x, y = landmarks3d()[lm_index, :2]
    d = np.hypot(mesh.uv[:, 0] - x, mesh.uv[:, 1] - y)
    return int(np.argmin(d))


def test_neutral_face_is_a_head_sized_surface_facing_the_frontal_camera():
    m = neutral_mesh()
    assert len(m.vertices) > 30_000 and m.faces.max() < len(m.vertices)
    # interocular distance of an adult: 55-70 mm (irises 468/473)
    eyes = m.vertices[[_nearest(m, 468), _nearest(m, 473)]]
    assert 55 < np.linalg.norm(eyes[0] - eyes[1]) < 70
    nose = m.vertices[_nearest(m, 4)]  # pronasale
    face = m.vertices[m.face_region]
    assert nose[2] - face[:, 2].min() < 3.0 and nose[2] < np.percentile(face[:, 2], 5)  # the nose sticks out
    a, b, c = (m.vertices[m.faces[:, i]] for i in range(3))
    assert (np.cross(b - a, c - a)[:, 2] < 0).mean() > 0.99  # normals towards -Z
    width = m.vertices[:, 0].max() - m.vertices[:, 0].min()
    assert 150 < width < 260


# AU -> (landmark, direction its skin moves in the rig frame: Y down, X the person's left)
MOVES = {
    1: (107, (0, -1, 0)),
    4: (107, (1, 1, 0)),  # person's right inner brow: towards the midline (+X) and down
    12: (61, (-1, -1, 0)),  # right mouth corner: out (-X) and up
    15: (61, (0, 1, 0)),
    17: (152, (0, -1, 0)),
    45: (159, (0, 1, 0)),
}


@pytest.mark.parametrize("au", sorted(MOVES))
def test_each_au_moves_its_region_the_way_facs_says(au):
    lm, direction = MOVES[au]
    script = FaceScript([FaceEvent("macro", [au], 1.0, 1.5, 2.0, 1.0)], 3.0)
    rig = FaceRig3D(script, drift=False)
    i = _nearest(rig.neutral, lm)
    d = rig.mesh_at(1.5).vertices - rig.neutral.vertices
    along = float(d[i] @ (np.asarray(direction) / np.linalg.norm(direction)))
    assert along > 0.8, (au, d[i])
    assert np.abs(rig.mesh_at(0.5).vertices - rig.neutral.vertices).max() == 0  # neutral before onset
    # a region moves, not a landmark: the skin 3 mm around moves nearly as much
    near = np.linalg.norm(rig.neutral.vertices - rig.neutral.vertices[i], axis=1) < 3.0
    assert np.linalg.norm(d[near], axis=1).min() > 0.5 * np.linalg.norm(d[i])
    # and the back of the head (far from every muscle) stays put
    assert np.linalg.norm(d[rig.neutral.vertices[:, 2] > 100], axis=1).max() < 1e-3


def test_head_movement_is_rigid():
    script = FaceScript([FaceEvent("head", [], 1.0, 1.5, 2.0, params={"dx_px": 8, "dy_px": -4, "roll_deg": 3})], 3)
    rig = FaceRig3D(script, seed=3)
    a, b = rig.mesh_at(0.2).vertices, rig.mesh_at(1.5).vertices
    assert np.abs(a - b).max() > 3.0
    pick = np.random.default_rng(0).integers(0, len(a), (500, 2))
    da = np.linalg.norm(a[pick[:, 0]] - a[pick[:, 1]], axis=1)
    db = np.linalg.norm(b[pick[:, 0]] - b[pick[:, 1]], axis=1)
    assert np.abs(da - db).max() < 1e-3


def test_true_mesh_round_trips_through_ply_read_by_open3d(tmp_path):
    v, f, c = face_mesh_at(2.0, seed=1)
    m = FaceRig3D(__import__("mestudio.capture.face.script", fromlist=["x"]).default_script(3600, 1), 1).mesh_at(2.0)
    assert np.array_equal(v, m.vertices)
    p = write_mesh_ply(tmp_path / "gt" / "000000.ply", m)
    o = o3d.io.read_triangle_mesh(str(p))
    assert np.allclose(np.asarray(o.vertices), v) and np.array_equal(np.asarray(o.triangles), f)
    assert np.allclose(np.asarray(o.vertex_colors) * 255, c, atol=0.6)
    back = read_ply(p)
    assert np.array_equal(back["face_region"].astype(bool), m.face_region)
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat ascii 1.0\nend_header\n")
    with pytest.raises(PLYError, match="binary_little_endian"):
        read_ply(tmp_path / "bad.ply")


# -- the devices: renders through calibrated cameras, with the truth beside them ------------
@pytest.fixture
def render_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _run(spec, session, n=4):
    from mestudio.capture.registry import create_device

    dev = create_device(spec)
    dev.session_dir = session
    frames = []
    with dev:
        while len(frames) < n * len(dev.streams):
            frames += dev.read(1.0)
    return dev, frames


@pytest.mark.slow
def test_rgbd_depth_is_the_true_mesh_seen_by_the_true_camera(tmp_path, render_cache):
    import json

    import cv2

    from mestudio.capture.face.cameras3d import load_cameras
    from mestudio.config import schema as S

    spec = S.SyntheticRGBD(name="kinect", kind="synthetic-rgbd", source="face3d", fps=30, loop_s=0.1)
    dev, frames = _run(spec, tmp_path)
    gt = tmp_path / "ground_truth"
    cams = load_cameras(gt / "cameras.json")
    assert set(cams) == {"kinect-color", "kinect-depth"}
    info = json.loads((gt / "face3d" / "kinect.json").read_text())
    assert info["loop_frames"] == 3 and len(info["meshes"]) == 3
    depth = next(f for f in frames if f.stream_id == "kinect-depth")
    colour = next(f for f in frames if f.stream_id == "kinect-color")
    assert colour.data.shape == (480, 640, 3) and depth.data.dtype == np.uint16
    # the truth for this frame, by the clock the json describes
    t = (info["device_t0_host_ns"] + depth.device_time_ns - info["epoch_host_ns"]) / 1e9
    k = round(t * info["fps"]) % info["loop_frames"]
    truth = read_ply(gt / "face3d" / "mesh" / info["meshes"][k])
    cam = cams["kinect-depth"]
    v = truth["vertices"][truth["face_region"].astype(bool)]
    z = (v @ cam.R.T + cam.t)[:, 2]
    px = np.round(cam.project(v)).astype(int)
    d = depth.data[px[:, 1], px[:, 0]].astype(np.float64)
    seen = d > 0
    assert seen.mean() > 0.7  # holes only at grazing angles
    err = np.abs(d[seen] - z[seen])
    assert np.median(err) < 2.0, np.median(err)  # Kinect-like noise at 0.8 m: about 1 mm
    # depth is quantised in disparity: few distinct values, steps growing with distance
    assert len(np.unique(depth.data[depth.data > 0])) < 0.5 * (depth.data > 0).sum()
    # and the colour image shows the skin under those pixels, the background elsewhere
    gray = cv2.cvtColor(colour.data, cv2.COLOR_RGB2GRAY)
    assert gray[px[:, 1], px[:, 0]].mean() > 3 * gray[:40, :40].mean()


@pytest.mark.slow
def test_array_views_are_the_calibrated_cameras_and_the_loop_follows_the_script(tmp_path, render_cache):
    import json

    from mestudio.capture.face.cameras3d import PAIRS, load_cameras
    from mestudio.config import schema as S

    spec = S.SyntheticArray(
        name="basler", kind="synthetic-array", source="face3d", count=2, width=320, height=240, fps=20, loop_s=0.25
    )
    dev, frames = _run(spec, tmp_path, n=6)
    cams = load_cameras(tmp_path / "ground_truth" / "cameras.json")
    a, b = cams["basler-0"], cams["basler-1"]
    assert (a.width, a.height) == (320, 240) and a.K[0, 0] == pytest.approx(3600 * 0.2, rel=0.02)
    assert np.linalg.norm(a.centre - b.centre) == pytest.approx(200.0, abs=1e-6)  # one stereo pair
    assert PAIRS[0] == ("basler-0", "basler-1")
    info = json.loads((tmp_path / "ground_truth" / "face3d" / "basler.json").read_text())
    assert info["loop_frames"] == 5
    # the smile: the mouth corner's true vertex moves; its pixel in view 0 follows the projection
    m0 = read_ply(tmp_path / "ground_truth" / "face3d" / "mesh" / info["meshes"][0])
    m2 = read_ply(tmp_path / "ground_truth" / "face3d" / "mesh" / info["meshes"][2])
    moved = np.linalg.norm(m2["vertices"] - m0["vertices"], axis=1)
    assert moved.max() > 2.0 and moved[m0["vertices"][:, 2] > 100].max() < 1e-3
    views = {f.stream_id for f in frames}
    assert views == {"basler-0", "basler-1"}
    img = frames[0].data
    assert img.shape == (240, 320) and img.dtype == np.uint8
    # speckle: the skin has fine texture for stereo (local contrast well above sensor noise)
    centre = a.project(np.array([[0.0, -20.0, -10.0]]))[0].astype(int)
    patch = img[centre[1] - 8 : centre[1] + 8, centre[0] - 8 : centre[0] + 8].astype(float)
    assert patch.std() > 4.0


@pytest.mark.slow
def test_emulated_baslers_show_the_3d_rig_views(pylon_emulation, render_cache):
    import time

    import cv2

    from mestudio.capture.basler_images import face3d_view_folders
    from mestudio.capture.registry import create_device
    from mestudio.config import schema as S

    base = dict(name="basler", kind="basler-array", count=2, width=320, height=240, fps=60)
    spec = S.BaslerArray(**base, emulate=True, emulated_images="face3d")
    dev = create_device(spec)
    got = {}
    with dev:
        t0 = time.monotonic()
        while len(got) < 2 and time.monotonic() - t0 < 20:
            for f in dev.read(0.5):
                got[f.stream_id] = f.data
    folders = face3d_view_folders(2, 320, 240)  # cached: the very images the emulator replays
    for i, folder in enumerate(folders):
        images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(folder.glob("*.bmp"))]
        assert len(images) == 8
        assert any(np.array_equal(got[f"basler-{i}"], im) for im in images), f"camera {i} shows another image"
    assert not np.array_equal(got["basler-0"], got["basler-1"])  # two viewpoints of one pair
