"""4D reconstruction accuracy and speed on the synthetic 3D rig, against its true meshes.

Frames: the study's rig (six 1600x1200 views in three stereo pairs, Kinect colour + depth)
rendered for a few states of the face (a smile micro-expression; cached, see
capture/face/prerender.py), reconstructed with the true cameras (calibration is measured by
`mestudio calibrate`, not here).  Figures: Chamfer mean / p95 and completeness within 2 mm on
the face region, vertices, and frame sets per second on one process, for

* ``stereo``: the three pairs fused (reconstruct/stereo.py);
* ``stereo_half_res``: the same, matched at half resolution (``reconstruct --match-scale 2``);
* ``baseline_one_pair``: the centre pair alone through the same code (what fusing adds);
* ``rgbd``: the Kinect's one depth frame through the TSDF (reconstruct/rgbd.py).
``--quick`` renders the views at 800x600 and two face states.  One untimed frame first: the
imports and first allocations are paid once per worker, not per frame.
"""

from __future__ import annotations

import os
import time

import numpy as np

NAME = "reconstruct"
HELP = "stereo (3 pairs) and Kinect RGB-D reconstruction vs the true face mesh; one stereo pair as baseline"


def _frames(quick: bool):
    from mestudio.capture.face.cameras3d import study_rig
    from mestudio.capture.face.prerender import load_loop, render_loop

    cams = [c for c in study_rig() if c.name != "frontal"]
    if quick:
        cams = [c.scaled(800, 600) if c.name.startswith("basler") else c for c in cams]
    fps, loop_s = 10.0, (0.2 if quick else 0.3)  # loop frames at 0, 0.1 (, 0.2) s: the smile rising
    folder = render_loop(cams, fps, loop_s, seed=0)
    n = int(round(fps * loop_s))
    frames = [{c.name: np.asarray(load_loop(folder, c.name)[k]) for c in cams} for k in range(n)]
    truths = sorted((folder / "mesh").glob("t*.ply"))
    return cams, frames, truths


def _score(rows: list[dict], seconds: list[float]) -> dict:
    out = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("chamfer_mean_mm", "chamfer_p95_mm")}
    out["completeness_2mm"] = round(float(np.mean([r["completeness_2mm"] for r in rows])), 4)
    out["accuracy_mean_mm"] = round(float(np.mean([r["accuracy_mean_mm"] for r in rows])), 4)
    out["vertices"] = int(np.mean([r["vertices"] for r in rows]))
    out["seconds_per_frame"] = round(float(np.mean(seconds)), 3)
    out["frames_per_s"] = round(1.0 / out["seconds_per_frame"], 4)
    # CPU seconds (every thread of this process): what a frame costs whatever else the machine
    # runs; 2 / cpu_s_per_frame is what two idle cores would sustain
    out["cpu_s_per_frame"] = round(float(np.mean([r["cpu_s"] for r in rows])), 3)
    return out


def run(args) -> dict:
    import cv2

    from mestudio.reconstruct.geometry import convergence_point, stereo_pairs
    from mestudio.reconstruct.metrics import compare
    from mestudio.reconstruct.rgbd import rgbd_frame
    from mestudio.reconstruct.stereo import RectifiedPair, stereo_frame
    from mestudio.stream.ply import read_ply

    cv2.setNumThreads(1)  # one process, one core: frames per second per worker
    # open3d (rendering and the TSDF) on one thread too, as in `reconstruct`'s workers
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    quick = bool(getattr(args, "quick", False))
    t0 = time.perf_counter()
    cams_true, frames, truths = _frames(quick)
    render_s = time.perf_counter() - t0
    cams = {c.name: c for c in cams_true}
    array = [n for n in cams if n.startswith("basler")]
    pairs = [RectifiedPair.build(cams[a], cams[b]) for a, b in stereo_pairs(cams, array)]
    centre = convergence_point([cams[n] for n in array])
    keys = ("stereo", "stereo_half_res", "baseline_one_pair", "rgbd")
    results: dict[str, tuple[list, list]] = {k: ([], []) for k in keys}
    stereo_frame(pairs, frames[0], centre)  # warm-up, untimed
    for images, truth_path in zip(frames, truths):
        truth = read_ply(truth_path)
        tv, tf, face = truth["vertices"], truth["faces"], truth["face_region"].astype(bool)
        variants = (("stereo", pairs, 1), ("stereo_half_res", pairs, 2), ("baseline_one_pair", pairs[1:2], 1))
        for key, use, scale in variants:
            t, c = time.perf_counter(), time.process_time()
            m = stereo_frame(use, images, centre, scale)["mesh"]
            dt, dc = time.perf_counter() - t, time.process_time() - c
            row = {**compare(m["vertices"], m["faces"], tv, tf, face), "vertices": len(m["vertices"]), "cpu_s": dc}
            results[key][0].append(row)
            results[key][1].append(dt)
        t, c = time.perf_counter(), time.process_time()
        m = rgbd_frame(cams["kinect-depth"], images["kinect-color"], images["kinect-depth"], centre)["mesh"]
        dt, dc = time.perf_counter() - t, time.process_time() - c
        row = {**compare(m["vertices"], m["faces"], tv, tf, face), "vertices": len(m["vertices"]), "cpu_s": dc}
        results["rgbd"][0].append(row)
        results["rgbd"][1].append(dt)
    out = {k: _score(*v) for k, v in results.items()}
    st, base, half = out["stereo"], out["baseline_one_pair"], out["stereo_half_res"]
    out["ratios"] = {
        "half_res_vs_stereo_time": round(half["seconds_per_frame"] / max(st["seconds_per_frame"], 1e-9), 3),
        "half_res_vs_stereo_chamfer": round(half["chamfer_mean_mm"] / max(st["chamfer_mean_mm"], 1e-9), 3),
        "stereo_vs_one_pair_completeness": round(st["completeness_2mm"] / max(base["completeness_2mm"], 1e-9), 3),
        "stereo_vs_one_pair_chamfer": round(st["chamfer_mean_mm"] / max(base["chamfer_mean_mm"], 1e-9), 3),
        "stereo_vs_one_pair_time": round(st["seconds_per_frame"] / max(base["seconds_per_frame"], 1e-9), 3),
    }
    out["setup"] = {
        "views": f"{cams[array[0]].width}x{cams[array[0]].height} x {len(array)}",
        "frames": len(frames),
        "render_or_cache_s": round(render_s, 1),
        "targets": "stereo Chamfer <= 0.5 mm, completeness >= 0.95, >= 50k vertices, >= 1 frame set/s; rgbd <= 3 mm",
    }
    return out
