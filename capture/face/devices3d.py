"""The 3D face rig as devices (``source = "face3d"``): renders of one textured 3D face through
the study's calibrated cameras, with the true meshes and cameras as ground truth; with
``source = "charuco"`` the same cameras see a ChArUco board moved in front of them (board3d.py).

* ``synthetic-array``: stream ``<name>-<i>`` is the rig's ``basler-<i>`` (1600x1200 by default;
  another width/height keeps the field of view), mono8.
* ``synthetic-camera``: the frontal 640x480 camera (mono8 or rgb8).
* ``synthetic-rgbd``: the Kinect's colour (rgb8) and depth (depth16 mm, registered to colour,
  Kinect-like noise, quantisation and holes).

Each shows a loop of ``loop_s`` seconds rendered ahead (prerender.py); at session time ``t`` a
frame shows loop frame ``round(t * fps) mod N``.  Written to ``<session>/ground_truth/``:
``cameras.json`` (true intrinsics and extrinsics of every stream), ``face3d/<device>.json``
(the loop, its clock and the true mesh of each loop frame) and ``face3d/mesh/t<us>.ply``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mestudio.capture.base import StreamInfo
from mestudio.capture.face.cameras3d import rig_camera, save_cameras
from mestudio.capture.face.devices import ENV_SESSION_DIR, GROUND_TRUTH_DIR, _FaceDevice
from mestudio.capture.face.prerender import copy_truth, load_loop, loop_frames, loop_script, render_loop
from mestudio.stream.cameras import Camera

FACE3D_DIR = "face3d"


def device_cameras(spec) -> dict[str, Camera]:
    """Stream id -> the rig camera it shows, at the spec's resolution."""
    kind = spec.kind
    if kind == "synthetic-array":
        if spec.count > 6:
            raise ValueError(f"{spec.name}: the 3D rig has 6 array cameras (basler-0..5), count = {spec.count}")
        cams = {f"{spec.name}-{i}": rig_camera(f"basler-{i}") for i in range(spec.count)}
    elif kind == "synthetic-camera":
        cams = {spec.name: rig_camera("frontal")}
        if spec.pixel_format == "rgb8":
            cams[spec.name].kind = "rgb"
    else:
        cams = {f"{spec.name}-color": rig_camera("kinect-color"), f"{spec.name}-depth": rig_camera("kinect-depth")}
        cams[f"{spec.name}-depth"].extra["registered_to"] = f"{spec.name}-color"
    out = {}
    for sid, c in cams.items():
        c = c.scaled(spec.width, spec.height) if (c.width, c.height) != (spec.width, spec.height) else c
        c.name = sid
        out[sid] = c
    return out


def prepare(spec, progress=None) -> Path:
    """Render (or find cached) this device's loop; ``mestudio run`` calls it before devices start."""
    cams = list(device_cameras(spec).values())
    return render_loop(cams, spec.fps, spec.loop_s, spec.seed, progress, scene=spec.source)


class _Face3DDevice(_FaceDevice):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self._script = loop_script(spec.loop_s)

    def _open(self) -> None:
        s = self.spec
        self.rate_hz = s.fps
        self.cameras = device_cameras(s)
        self._folder = prepare(s)
        self._frames = [load_loop(self._folder, c.name) for c in self.cameras.values()]
        self._n = loop_frames(s.loop_s, s.fps)
        self.streams = [self._stream_info(sid, c) for sid, c in self.cameras.items()]

    def _stream_info(self, sid: str, c: Camera) -> StreamInfo:
        # no camera parameters here: a camera does not know its pose; the truth is in ground_truth/
        meta = {"source": self.spec.source, "seed": self.spec.seed, "size": [c.width, c.height]}
        if c.kind == "depth":
            meta |= {"depth_unit_mm": 1.0, "registered_to": c.extra["registered_to"]}
            return StreamInfo(sid, "depth", "<u2", (c.height, c.width), "depth16", self.spec.fps, self.kind, meta)
        if c.kind == "rgb":
            return StreamInfo(sid, "video", "|u1", (c.height, c.width, 3), "rgb8", self.spec.fps, self.kind, meta)
        return StreamInfo(sid, "video", "|u1", (c.height, c.width), "mono8", self.spec.fps, self.kind, meta)

    def loop_index(self, t: float) -> int:
        return int(round(t * self.spec.fps)) % self._n

    def _render_at(self, t: float, tick: int) -> list[np.ndarray]:
        k = self.loop_index(t)
        return [np.asarray(f[k]) for f in self._frames]

    def _save_ground_truth(self) -> list[Path]:
        import os

        root = self.session_dir or os.environ.get(ENV_SESSION_DIR)
        if not root:
            return []
        gt = Path(root) / GROUND_TRUTH_DIR
        names = copy_truth(self._folder, gt / FACE3D_DIR / "mesh")
        s = self.spec
        body = {
            "version": 1,
            "device": s.name,
            "streams": list(self.cameras),
            "fps": s.fps,
            "loop_s": s.loop_s,
            "loop_frames": self._n,
            "time_base": "a frame of device time d shows loop frame round(fps * (device_t0_host_ns + d - "
            "epoch_host_ns) / 1e9) mod loop_frames; its true mesh is mesh/meshes[k]",
            "epoch_host_ns": self._script.epoch_host_ns,
            "device_t0_host_ns": self._script.device_t0_host_ns,
            "meshes": [f"t{int(round(k / s.fps * 1e6)):08d}.ply" for k in range(self._n)],
            "script": json.loads(self._script.to_json()),
        }
        if s.source == "charuco":
            done = json.loads((self._folder / "done.json").read_text(encoding="utf-8"))
            body |= {
                "scene": "charuco",
                "meshes": [],
                **{k: done[k] for k in ("board", "board_poses", "pose_of_frame")},
            }
        missing = [m for m in body["meshes"] if m not in names]
        if missing:
            raise RuntimeError(f"{s.name}: rendered loop lacks true meshes {missing[:3]}")
        path = gt / FACE3D_DIR / f"{s.name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
        tmp.replace(path)
        return [path, save_cameras(gt, self.cameras)]


class SyntheticFace3DCamera(_Face3DDevice):
    kind = "synthetic-camera"


class SyntheticFace3DRGBD(_Face3DDevice):
    kind = "synthetic-rgbd"


class SyntheticFace3DArray(_Face3DDevice):
    kind = "synthetic-array"


def prepare_all(cfg, say=None) -> None:
    """Render every ``face3d`` device's loop ahead of a session (a device must be ready in seconds)."""
    for spec in cfg.devices:
        if spec.enabled and spec.kind == "basler-array" and spec.emulate and spec.emulated_images == "face3d":
            from mestudio.capture.basler_images import face3d_view_folders

            face3d_view_folders(spec.count, spec.width, spec.height)
            continue
        if not spec.enabled or getattr(spec, "source", None) not in ("face3d", "charuco"):
            continue

        def progress(k: int, n: int, name: str = spec.name) -> None:
            if say and (k == n or k % max(1, n // 5) == 0):
                say(f"rendering the 3D face for {name}: {k}/{n} loop frames (cached for later runs)")

        prepare(spec, progress)
