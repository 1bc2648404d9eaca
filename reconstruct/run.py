"""Reconstruct every frame set of a session: ``reconstruction/<method>/NNNNNN.ply`` + ``index.csv``.

Methods: ``stereo`` (the array's stereo pairs, stereo.py) and ``rgbd`` (the Kinect, rgbd.py), each
where the session has the streams.  Frame sets come from sync (``sync/framesets.csv``); ``NNNNNN``
is the frame set's number.  Work is split over local processes (or a Ray cluster); a frame whose
mesh is already there, made with the same inputs (``settings`` in ``NNNNNN.json``: the calibration,
the frames used, the stereo pairs and ``--match-scale``), is skipped (resumable), its figures read
from that file; one made otherwise is made again.
When the session has ground truth (``ground_truth/face3d``), each mesh is compared with the true
one of its frame (metrics.py), in the calibration's frame.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from mestudio.reconstruct.errors import MissingDataError, ReconstructionError
from mestudio.reconstruct.frames import SessionFrames, read_json
from mestudio.reconstruct.geometry import convergence_point, stereo_pairs
from mestudio.stream.cameras import CameraFileError, cameras_from_json
from mestudio.stream.ply import write_ply

ARRAY_KINDS = ("synthetic-array", "basler-array")
METHODS = ("stereo", "rgbd")


def find_calibration(root: Path, calibration: str | Path | None) -> tuple[dict, Path]:
    if calibration:
        p = Path(calibration)
        if p.is_dir():
            p = p / "calibration" / "rig.json"
    else:
        p = root / "calibration" / "rig.json"
        if not p.is_file():
            raise MissingDataError(
                f"{root}: no calibration/rig.json; calibrate a board recording (`mestudio calibrate CAL_SESSION`) "
                "and pass --calibration CAL_SESSION/calibration/rig.json"
            )
    body = read_json(p)
    try:
        cameras_from_json(body)  # every camera readable before any work starts
    except CameraFileError as e:
        raise CameraFileError(f"{p}: {e}") from None
    return body, p


def plan(root: Path, calib: dict, methods: tuple[str, ...] = METHODS) -> dict:
    """What each method needs: its cameras, pairs, the frame sets that have them."""
    frames = SessionFrames(root)
    infos = {s: frames.stream_info(s) for s in frames.reader.stream_ids()}
    cams = cameras_from_json(calib)
    out = {}
    if "stereo" in methods:
        array = [s for s, i in infos.items() if i.get("device_kind") in ARRAY_KINDS and s in cams]
        if len(array) >= 2:
            missing = [s for s in array if s not in cams]
            if missing:
                raise MissingDataError(f"calibration has no camera {missing[0]!r}")
            pairs = stereo_pairs(cams, array)
            out["stereo"] = {"streams": sorted(array), "pairs": pairs}
    if "rgbd" in methods:
        for s, i in infos.items():
            reg = i.get("settings", {}).get("registered_to")
            if i["media"] == "depth" and reg in infos and s in cams:
                out["rgbd"] = {"streams": [reg, s], "colour": reg, "depth": s}
                break
    if not out:
        raise ReconstructionError(
            f"{root}: nothing to reconstruct: no calibrated stereo pair of an array and no registered colour + depth"
        )
    return out


def _truth_frame_transform(root: Path, calib: dict) -> np.ndarray:
    """4x4 taking true rig coordinates into the calibration's frame (its reference camera's)."""
    ref = calib.get("reference")
    truth = root / "ground_truth" / "cameras.json"
    if not ref or not truth.is_file():
        return np.eye(4)
    tc = read_json(truth)["cameras"].get(ref)
    if tc is None:
        return np.eye(4)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = np.asarray(tc["R"]), np.asarray(tc["t_mm"])
    return T


def _truth_index(root: Path) -> dict[str, dict]:
    """stream -> its device's truth description (face3d/<device>.json)."""
    out = {}
    for p in sorted((root / "ground_truth" / "face3d").glob("*.json")):
        body = read_json(p)
        if body.get("meshes"):
            for s in body.get("streams", []):
                out[s] = body
    return out


# -- the worker side -------------------------------------------------------------------------------
_W: dict = {}


def _init_worker(root: str, calib: dict, jobs: dict, out_root: str) -> None:
    import os

    import cv2

    cv2.setNumThreads(1)  # one process per core: no oversubscription
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # open3d's TSDF, when it is first imported here
    from mestudio.reconstruct.stereo import RectifiedPair

    cams = cameras_from_json(calib)
    _W.clear()
    _W.update(
        root=Path(root),
        out=Path(out_root),
        cams=cams,
        frames=SessionFrames(root),
        truth=_truth_index(Path(root)),
        to_calib=_truth_frame_transform(Path(root), calib),
        jobs=jobs,
    )
    if "stereo" in jobs:
        _W["pairs"] = [RectifiedPair.build(cams[a], cams[b]) for a, b in jobs["stereo"]["pairs"]]
        _W["match_scale"] = int(jobs["stereo"].get("match_scale", 1))
        _W["centre"] = convergence_point([cams[s] for s in jobs["stereo"]["streams"]])
    if "rgbd" in jobs:
        _W["rgbd"] = jobs["rgbd"]
        c = cams[jobs["rgbd"]["depth"]]
        _W["rgbd_centre"] = _W.get("centre", c.centre + 800.0 * c.axis)


def _true_mesh(stream: str, seq: int) -> dict | None:
    from mestudio.stream.ply import read_ply

    body = _W["truth"].get(stream)
    if body is None:
        return None
    fr = _W["frames"]
    t = (body["device_t0_host_ns"] + fr.device_time_ns(stream, seq) - body["epoch_host_ns"]) / 1e9
    k = int(round(t * body["fps"])) % int(body["loop_frames"])
    m = read_ply(_W["root"] / "ground_truth" / "face3d" / "mesh" / body["meshes"][k])
    T = _W["to_calib"]
    m["vertices"] = (m["vertices"] @ T[:3, :3].T + T[:3, 3]).astype(np.float32)
    return m


# the job's entries that change a mesh (the others, e.g. the worker count, do not)
RESULT_KEYS = ("calibration_sha256", "pairs", "match_scale", "streams", "colour", "depth")


def frame_settings(job: dict, seq: dict[str, int]) -> dict:
    """Everything besides the code that decides a frame's mesh: a done frame is reused only when
    its recorded settings equal these (JSON-shaped, so a read-back file compares equal)."""
    out = {k: job[k] for k in sorted(job) if k in RESULT_KEYS}
    return json.loads(json.dumps({**out, "seq": {k: int(v) for k, v in sorted(seq.items())}}))


def _done_before(ply: Path, meta: Path, settings: dict) -> dict | None:
    """The recorded row of a frame made with ``settings``; None (and the stale files gone) otherwise."""
    if not (ply.is_file() and meta.is_file()):
        return None
    try:
        row = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        row = None  # unreadable: made again
    if isinstance(row, dict) and row.get("settings") == settings:
        return row
    ply.unlink(missing_ok=True)  # made with other inputs: no stale mesh may stay if this one fails
    meta.unlink(missing_ok=True)
    return None


def _work(task: tuple) -> dict:
    method, index, t_s, seq = task
    out = _W["out"] / method
    ply, meta = out / f"{index:06d}.ply", out / f"{index:06d}.json"
    settings = frame_settings(_W["jobs"][method], seq)
    done = _done_before(ply, meta, settings)
    if done is not None:
        return {**done, "skipped": True}
    fr = _W["frames"]
    t0, c0 = time.perf_counter(), time.process_time()
    if method == "stereo":
        from mestudio.reconstruct.stereo import stereo_frame

        imgs = {s: fr.frame(s, q) for s, q in seq.items()}
        res = stereo_frame(_W["pairs"], imgs, _W["centre"], _W["match_scale"])
        ref_stream = _W["pairs"][0].left.name
    else:
        from mestudio.reconstruct.rgbd import rgbd_frame

        j = _W["rgbd"]
        cam = _W["cams"][j["depth"]]
        res = rgbd_frame(
            cam, fr.frame(j["colour"], seq[j["colour"]]), fr.frame(j["depth"], seq[j["depth"]]), _W["rgbd_centre"]
        )
        ref_stream = j["depth"]
    mesh = res["mesh"]
    out.mkdir(parents=True, exist_ok=True)
    if len(mesh["vertices"]) == 0:  # counted and reported; the other frames go on
        return {
            "method": method,
            "set": index,
            "session_time_s": t_s,
            "file": "",
            "vertices": 0,
            "failed": "no surface",
        }
    write_ply(ply, mesh["vertices"], mesh["faces"], mesh["colours"])
    row = {
        "method": method,
        "set": index,
        "session_time_s": t_s,
        "file": ply.name,
        "vertices": len(mesh["vertices"]),
        "seconds": round(time.perf_counter() - t0, 3),
        "cpu_seconds": round(time.process_time() - c0, 3),
        "settings": settings,
    }
    truth = _true_mesh(ref_stream, seq[ref_stream])
    if truth is not None:
        from mestudio.reconstruct.metrics import compare

        row |= compare(
            mesh["vertices"],
            mesh["faces"],
            truth["vertices"],
            truth["faces"],
            truth["face_region"].astype(bool),
        )
    meta.write_text(json.dumps(row), encoding="utf-8")
    return row


# -- the driver ------------------------------------------------------------------------------------
def select(sets: list, frames: str | None) -> list:
    if not frames:
        return sets
    try:
        a, _, b = frames.partition(":")
        lo = int(a) if a else 0
        hi = int(b) if b else None
    except ValueError:
        raise ReconstructionError(f"--frames {frames!r}: expected A:B (frame set numbers, B exclusive)") from None
    return [s for s in sets if s.index >= lo and (hi is None or s.index < hi)]


def reconstruct_session(
    root: str | Path,
    frames: str | None = None,
    workers: int = 1,
    calibration: str | Path | None = None,
    methods: tuple[str, ...] = METHODS,
    progress: Callable[[int, int], None] | None = None,
    ray_address: str | None = None,
    match_scale: int = 1,
) -> dict:
    """Every frame set's meshes (see the module docstring); ``match_scale`` 2 matches the stereo
    pairs at half resolution (faster, coarser: docs/4d.md).  Returns the report."""
    root = Path(root)
    calib, calib_path = find_calibration(root, calibration)
    jobs = plan(root, calib, methods)
    digest = hashlib.sha256(json.dumps(calib, sort_keys=True).encode()).hexdigest()
    for job in jobs.values():
        job["calibration_sha256"] = digest  # another calibration, another mesh
    if "stereo" in jobs:
        jobs["stereo"]["match_scale"] = match_scale
    sf = SessionFrames(root)
    tasks = []
    for method, job in jobs.items():
        seen = set()
        for s in select(sf.framesets(job["streams"]), frames):
            seq = {k: s.seq[k] for k in job["streams"]}
            seq_key = tuple(seq.values())
            if seq_key in seen:  # a slower stream's frame matched to two sets of a faster reference
                continue
            seen.add(seq_key)
            tasks.append((method, s.index, s.session_time_s, seq))
    if not tasks:
        raise ReconstructionError(f"{root}: no frame set holds every camera the methods need ({frames or 'all'})")
    out_root = root / "reconstruction"
    t0 = time.perf_counter()
    rows: list[dict] = []
    if ray_address:
        rows = _run_on_ray(ray_address, str(root), calib, jobs, str(out_root), tasks, progress)
    elif workers <= 1:
        _init_worker(str(root), calib, jobs, str(out_root))
        for i, t in enumerate(tasks):
            rows.append(_work(t))
            if progress:
                progress(i + 1, len(tasks))
    else:
        with ProcessPoolExecutor(
            workers, initializer=_init_worker, initargs=(str(root), calib, jobs, str(out_root))
        ) as ex:
            for i, r in enumerate(ex.map(_work, tasks)):
                rows.append(r)
                if progress:
                    progress(i + 1, len(tasks))
    wall = time.perf_counter() - t0
    report: dict[str, Any] = {"session": str(root), "calibration": str(calib_path), "workers": workers, "methods": {}}
    for method in jobs:
        mine = sorted((r for r in rows if r["method"] == method and r.get("file")), key=lambda r: r["set"])
        mine += [r for r in rows if r["method"] == method and not r.get("file")]
        _write_index(out_root / method / "index.csv", mine)
        done_now = [r for r in mine if not r.get("skipped") and not r.get("failed")]
        m = {
            "frames": len(mine),
            "computed": len(done_now),
            # throughput of this method alone on the workers (both methods share the wall clock)
            "frames_per_s": round(workers / float(np.mean([r["seconds"] for r in done_now])), 4) if done_now else None,
            "seconds_per_frame": round(float(np.mean([r["seconds"] for r in done_now])), 3) if done_now else None,
            # CPU seconds a frame costs (independent of what else runs): workers / this = idle rate
            "cpu_seconds_per_frame": round(float(np.mean([r.get("cpu_seconds", r["seconds"]) for r in done_now])), 3)
            if done_now
            else None,
            "failed": sum(1 for r in mine if r.get("failed")),
            "vertices_mean": int(np.mean([r["vertices"] for r in mine])) if mine else 0,
            "folder": str(out_root / method),
        }
        for key in ("chamfer_mean_mm", "chamfer_p95_mm", "completeness_2mm", "accuracy_mean_mm"):
            vals = [r[key] for r in mine if r.get(key) is not None]
            if vals:
                m[key] = round(float(np.mean(vals)), 4)
        report["methods"][method] = m
    main = report["methods"].get("stereo") or next(iter(report["methods"].values()))
    for key in ("chamfer_mean_mm", "chamfer_p95_mm", "completeness_2mm"):
        report[key] = main.get(key)
    report["frames"] = sum(m["frames"] for m in report["methods"].values())
    computed = sum(m["computed"] for m in report["methods"].values())
    report["frames_per_s"] = round(computed / wall, 4) if computed else None  # every method, wall clock
    report["wall_s"] = round(wall, 2)
    return report


def _write_index(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = ["set", "session_time_s", "file", "vertices"]
    extra = [k for k in ("chamfer_mean_mm", "chamfer_p95_mm", "completeness_2mm") if any(k in r for r in rows)]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + extra)
        for r in rows:
            w.writerow([r.get(c, "") for c in cols + extra])
    tmp.replace(path)


def _run_on_ray(address, root, calib, jobs, out_root, tasks, progress) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise ReconstructionError(
            "--ray needs the ray package on this machine and on the cluster (pip install 'ray[default]'); "
            "without it use --workers N"
        ) from None
    ray.init(address=address)

    @ray.remote
    def one(task):
        if not _W:
            _init_worker(root, calib, jobs, out_root)
        return _work(task)

    refs = [one.remote(t) for t in tasks]
    rows = []
    for i, r in enumerate(ray.get(refs)):
        rows.append(r)
        if progress:
            progress(i + 1, len(tasks))
    return rows
