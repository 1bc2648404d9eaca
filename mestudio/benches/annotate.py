"""The annotation window's speed against baselines measured in the same run.

* video, random frames: the annotator jumps anywhere in a 640x480 H.264 file (key frame every
  second); frames/s of annotate's seek-and-decode against decoding the file straight through
  with PyAV (baseline: what FFmpeg gives when nothing seeks).
* video, stepping: frame after frame through annotate's source (the arrow key), same baseline.
* window: repaints/s of the whole window (frame, timeline, panel) offscreen against a bare
  pyqtgraph ImageItem showing the same frames (baseline).
* merge: three annotators x N clips merged with the agreement report, clips/s.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

HELP = "annotation: random/stepped video frames/s vs straight PyAV decoding, window repaints/s, merge speed"


def _video(path: Path, n: int) -> None:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=60, options={"crf": "18", "g": "60"})
        s.width, s.height, s.pix_fmt = 640, 480, "yuv420p"
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (480, 640), np.uint8)
        for i in range(n):
            img = np.roll(base, i, axis=1)
            for p in s.encode(av.VideoFrame.from_ndarray(np.stack([img] * 3, -1), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _straight(path: Path) -> float:
    import av

    t = time.perf_counter()
    with av.open(str(path)) as c:
        k = sum(1 for f in c.decode(video=0) if f.to_ndarray(format="rgb24") is not None)
    return k / (time.perf_counter() - t)


def _merge_speed(n_clips: int) -> float:
    from mestudio.analysis.datasets.aus import AUCode
    from mestudio.annotate.agreement import agreement
    from mestudio.annotate.labels import Clip
    from mestudio.annotate.merge import merge

    class Frames:  # what merge reads of a source: frame numbers and times
        stream_id = "face"
        numbers = np.arange(n_clips * 100, dtype=np.int64)
        times_s = numbers / 60.0

    rng = random.Random(1)
    labels = {}
    for a in ("ann1", "ann2", "ann3"):
        clips = []
        for k in range(n_clips):
            on = k * 100 + rng.randint(0, 4)
            aus = tuple(AUCode(u, "", rng.choice("ABC")) for u in rng.sample([1, 2, 4, 6, 7, 12, 17], 2))
            clips.append(Clip(f"c{k}", on, on + 20 + rng.randint(0, 4), on + 8, aus))
        labels[a] = clips
    t = time.perf_counter()
    cons = merge(labels, Frames())  # type: ignore[arg-type]
    agreement(cons, Frames())  # type: ignore[arg-type]
    return n_clips / (time.perf_counter() - t)


def _window(src_path: Path, frames: int) -> tuple[float, float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from mestudio.annotate.media import open_source
    from mestudio.annotate.qt import application, pg, shutdown
    from mestudio.annotate.state import AnnotationState
    from mestudio.annotate.window import AnnotateWindow

    app = application()
    src = open_source(src_path)
    imgs = [src.frame(i) for i in range(frames)]
    bare = pg.GraphicsLayoutWidget()
    item = pg.ImageItem()
    bare.addViewBox().addItem(item)
    bare.resize(1000, 560)
    bare.show()
    t = time.perf_counter()
    for img in imgs:
        item.setImage(img, autoLevels=False, levels=(0, 255))
        app.processEvents()
    base = frames / (time.perf_counter() - t)
    shutdown(app, bare)
    w = AnnotateWindow(AnnotationState(src, "bench"))  # labels beside the video, none written
    w.show()
    t = time.perf_counter()
    for i in range(frames):
        w.state.goto(i)
        w.refresh()
        app.processEvents()
    ours = frames / (time.perf_counter() - t)
    shutdown(app, w)
    src.close()
    return ours, base


def run(args) -> dict:
    from mestudio.annotate.media import open_source

    n = 120 if args.quick else 600
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.mp4"
        _video(path, n)
        straight = _straight(path)
        src = open_source(path)
        order = random.Random(0).sample(range(n), min(n, 40 if args.quick else 150))
        t = time.perf_counter()
        for i in order:
            src.frame(i)
        rand = len(order) / (time.perf_counter() - t)
        src.close()
        src = open_source(path)
        t = time.perf_counter()
        for i in range(n):
            src.frame(i)
        step = n / (time.perf_counter() - t)
        src.close()
        ours, base = _window(path, 60 if args.quick else 300)
    merge_cps = _merge_speed(100 if args.quick else 1000)
    return {
        "video_640x480_h264": {
            "straight_decode_fps (baseline)": round(straight, 1),
            "random_frames_per_s": round(rand, 1),
            "random_ratio": round(rand / straight, 3),
            "stepping_frames_per_s": round(step, 1),
            "stepping_ratio": round(step / straight, 3),
        },
        "window_offscreen": {
            "bare_imageitem_fps (baseline)": round(base, 1),
            "annotate_repaints_per_s": round(ours, 1),
            "ratio": round(ours / base, 3),
        },
        "merge_3_annotators_clips_per_s": round(merge_cps, 1),
    }
