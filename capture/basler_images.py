"""Images of the synthetic face for pylon's camera emulator (ImageFileMode).

The emulator replays a folder's images in name order at its frame rate; it decodes PNG too
slowly for 60 fps at 1600x1200 but reads BMP at full rate, so the views are written as BMP, once,
into a cache folder.  They show a short loop (a micro-expression and a blink); the emulator's
pace is its own, so these frames carry no ground truth.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from mestudio.capture.face.render import RENDER_VERSION, FaceView, source_gray
from mestudio.capture.face.script import FaceEvent, FaceScript

LOOP_FRAMES = 20  # 1/3 s at 60 fps: built in seconds, well inside the device node's start limit
LOOP_FPS = 60.0


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mestudio" / "basler-emulator"


def loop_script() -> FaceScript:
    return FaceScript(
        [FaceEvent("micro", [6, 12], 0.0, 0.1, 0.22, 0.9, "positive"), FaceEvent("blink", [45], 0.2, 0.25, 0.32)],
        LOOP_FRAMES / LOOP_FPS,
    )


def face_view_folders(count: int, width: int, height: int) -> list[Path]:
    """One folder of BMP frames per camera view (yaw spread like the 4D rig), built if missing."""
    from mestudio.capture.face.devices import view_yaws

    script = loop_script()
    key = hashlib.sha1(f"{script.to_json()}{LOOP_FRAMES}{RENDER_VERSION}".encode()).hexdigest()[:10]
    folders = []
    for i, yaw in enumerate(view_yaws(count)):
        folder = cache_root() / f"{width}x{height}-yaw{yaw:+.1f}-{key}"
        done = folder.with_name(folder.name + ".done")  # outside: the emulator reads every file
        _remove_stale(folder, key)
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            view = FaceView(width, height, yaw, seed=100 + i)
            for k in range(LOOP_FRAMES):
                img = view.render(script, k / LOOP_FPS, k, source_gray())
                cv2.imwrite(str(folder / f"frame{k:04d}.bmp"), img)
            done.write_text("ok\n")
        folders.append(folder)
    return folders


def _remove_stale(folder: Path, key: str) -> None:
    """Drop this view's images from older renderer versions (hundreds of MB each)."""
    prefix = folder.name[: -len(key)]
    for old in folder.parent.glob(prefix + "*"):
        if old.is_dir() and old.name != folder.name and not old.name.endswith(".done"):
            shutil.rmtree(old, ignore_errors=True)
            old.with_name(old.name + ".done").unlink(missing_ok=True)


LOOP3D_FRAMES = 8  # the 3D rig renders ~1 s a view at 1600x1200: a short loop, rendered once


def face3d_view_folders(count: int, width: int, height: int, progress=None) -> list[Path]:
    """One folder of BMP frames per camera of the 3D rig (``basler-0`` ...; ``emulated_images =
    "face3d"``), from the same cached renders as the synthetic 3D devices (no ground truth: the
    emulator's pace is its own)."""
    from mestudio.capture.face.cameras3d import rig_camera
    from mestudio.capture.face.prerender import load_loop, render_loop

    if count > 6:
        raise ValueError(f"the 3D rig has 6 array cameras (basler-0..5), {count} emulated")
    cams = []
    for i in range(count):
        c = rig_camera(f"basler-{i}")
        cams.append(c.scaled(width, height) if (c.width, c.height) != (width, height) else c)
    loop = render_loop(cams, LOOP_FPS, LOOP3D_FRAMES / LOOP_FPS, seed=0, progress=progress)
    folders = []
    for c in cams:
        folder = loop / f"bmp-{c.name}"
        done = loop / f"bmp-{c.name}.done"
        if not done.exists():
            folder.mkdir(exist_ok=True)
            for k, img in enumerate(load_loop(loop, c.name)):
                cv2.imwrite(str(folder / f"frame{k:04d}.bmp"), np.asarray(img))
            done.write_text("ok\n")
        folders.append(folder)
    return folders
