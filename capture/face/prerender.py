"""Frames of the 3D face rig rendered ahead: one looped sequence per camera, cached by content.

Ray casting a 1600x1200 view takes about a second on these machines (render3d.py), far from
60 fps, so a 3D face device shows a loop of ``round(loop_s * fps)`` frames rendered once (sensor
noise baked into each frame) and kept in ``~/.cache/mestudio/face3d/<hash>/``: the hash covers the
loop's script, rate, cameras and the mesh and renderer versions, so a change renders anew.
Frame ``k`` of the loop shows the mesh at loop time ``k / fps``; its true mesh is
``mesh/t<microseconds>.ply`` (written once per loop time, shared by every camera of that rate).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mestudio.capture.face.board3d import (
    BOARD_POSES,
    BOARD_VERSION,
    board_description,
    board_mesh,
    board_pose,
    pose_at,
    shade_board,
)
from mestudio.capture.face.mesh3d import MESH_VERSION, FaceRig3D, write_mesh_ply
from mestudio.capture.face.render3d import RENDER3D_VERSION, MeshScene, kinect_depth, to_gray8, to_rgb8
from mestudio.capture.face.script import FaceEvent, FaceScript
from mestudio.stream.cameras import Camera

SENSOR_NOISE_DN = 1.5


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mestudio" / "face3d"


def loop_script(loop_s: float) -> FaceScript:
    """What the loop shows: a smile micro-expression first, then (longer loops) brows, a blink, a frown."""
    plan = [
        FaceEvent("micro", [6, 12], 0.02, 0.12, 0.24, 0.9, "positive"),
        FaceEvent("macro", [1, 2], 0.3, 0.55, 0.9, 1.0, "surprise"),
        FaceEvent("blink", [45], 1.0, 1.08, 1.2, 1.0),
        FaceEvent("macro", [4, 7], 1.3, 1.6, 1.95, 1.0, "negative"),
    ]
    events = [e for e in plan if e.offset_s <= loop_s]
    if not events:  # a very short loop: the smile, faster
        e, f = plan[0], loop_s / (plan[0].offset_s + 0.02)
        events = [FaceEvent(e.kind, e.aus, e.onset_s * f, e.apex_s * f, e.offset_s * f, e.intensity, e.emotion)]
    return FaceScript(events, float(loop_s))


def loop_frames(loop_s: float, fps: float) -> int:
    return max(1, int(round(loop_s * fps)))


def truth_name(t_s: float) -> str:
    return f"t{int(round(t_s * 1e6)):08d}.ply"


def _key(cameras: list[Camera], fps: float, loop_s: float, seed: int, scene: str) -> str:
    body = {
        "scene": scene,
        "script": json.loads(loop_script(loop_s).to_json()),
        "fps": fps,
        "loop_s": loop_s,
        "seed": seed,
        "cameras": {c.name: c.to_json() for c in cameras},
        "versions": [MESH_VERSION, RENDER3D_VERSION],
    }
    if scene == "charuco":  # the board's poses changed: a loop of the old ones must not be reused
        body["board_version"] = BOARD_VERSION
    return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def render_loop(
    cameras: list[Camera],
    fps: float,
    loop_s: float,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    scene: str = "face3d",
) -> Path:
    """The cache folder holding ``<camera>.npy`` (N, H, W[, 3]) per camera and ``mesh/*.ply``; built if missing.

    ``scene`` is ``face3d`` (the face) or ``charuco`` (the calibration board, board3d.py)."""
    folder = cache_root() / _key(cameras, fps, loop_s, seed, scene)
    if (folder / "done.json").exists():
        return folder
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "mesh").mkdir(parents=True)
    n = loop_frames(loop_s, fps)
    rig = FaceRig3D(loop_script(loop_s), seed, drift=False)
    outs = {}
    for c in cameras:
        shape = (n, c.height, c.width, 3) if c.kind == "rgb" else (n, c.height, c.width)
        dtype = np.uint16 if c.kind == "depth" else np.uint8
        outs[c.name] = np.lib.format.open_memmap(tmp / f"{c.name}.npy", "w+", dtype, shape)
    rng = np.random.default_rng(seed)
    for k in range(n):
        t = k / fps
        if scene == "charuco":
            pose = pose_at(t, loop_s)
            if k > 0 and pose == pose_at((k - 1) / fps, loop_s):  # held still: the same images
                for c in cameras:
                    outs[c.name][k] = outs[c.name][k - 1]
                if progress:
                    progress(k + 1, n)
                continue
            mesh = board_mesh(pose, seed)
        else:
            mesh = rig.mesh_at(t)
            write_mesh_ply(tmp / "mesh" / truth_name(t), mesh)
        ms = MeshScene(mesh)
        for c in cameras:
            cast = ms.cast(c)
            if c.kind == "depth":
                outs[c.name][k] = kinect_depth(c, cast, rng)
                continue
            noise = rng.normal(0.0, SENSOR_NOISE_DN, (c.height, c.width)).astype(np.float32)
            if scene == "charuco":
                img = shade_board(c, cast, float(np.linalg.norm(c.centre - mesh.vertices.mean(0))))
            else:
                img = ms.shade(c, cast)
            outs[c.name][k] = to_rgb8(img, noise) if c.kind == "rgb" else to_gray8(img, noise)
        if progress:
            progress(k + 1, n)
    for a in outs.values():
        a.flush()
    meta = {"fps": fps, "loop_s": loop_s, "frames": n, "cameras": [c.name for c in cameras], "seed": seed}
    if scene == "charuco":
        meta["board"] = board_description()
        poses = [board_pose(p, seed) for p in range(BOARD_POSES)]
        meta["board_poses"] = [{"R": R.tolist(), "t_mm": t.tolist()} for R, t in poses]
        meta["pose_of_frame"] = [pose_at(k / fps, loop_s) for k in range(n)]
    (tmp / "done.json").write_text(json.dumps(meta), encoding="utf-8")
    try:
        tmp.rename(folder)
    except OSError:  # another process finished the same loop first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_loop(folder: Path, camera: str) -> np.ndarray:
    """The loop's frames for one camera, memory-mapped (read-only)."""
    return np.load(folder / f"{camera}.npy", mmap_mode="r")


def copy_truth(folder: Path, dest: Path) -> list[str]:
    """Copy the loop's true meshes into ``dest`` (hard links where possible); their names in loop order."""
    dest.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in (folder / "mesh").glob("t*.ply"))
    for name in names:
        target = dest / name
        if target.exists():
            continue
        try:
            os.link(folder / "mesh" / name, target)
        except OSError:
            shutil.copyfile(folder / "mesh" / name, target)
    return names
