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
