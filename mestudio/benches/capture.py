"""Capture rates: six emulated Basler cameras (1600x1200 @ 60 fps) recorded, beside the emulator alone.

Baselines, same run: pylon's emulator grabbed by bare pypylon in a process of its own (no mestudio
code, nothing recorded), then mestudio's Basler backend alone (nothing recorded).  Then the real
path: `config/emulated-basler.toml` run by the supervisor (the Basler device node publishing, the
recorder writing the session), per-camera fps, gaps, drops and CPU read back from the session.
Last, the face rig: render rates per device size, and `config/demo.toml` (face 640x480@60, Kinect
pair, three rig views, mic) recorded the same way.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from mestudio.benches._backlog_profile import SchedSampler, backlog_profile

HELP = "six emulated Basler cameras recording: fps per camera, drops, CPU; emulator alone as baseline"

COUNT, WIDTH, HEIGHT, FPS = 6, 1600, 1200, 60


def _cpu_s(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _emulator_alone(seconds: float, image_dirs: list[str], out) -> None:
    """In a fresh process: bare pypylon, six emulated cameras showing the same face images."""
    os.environ["PYLON_CAMEMU"] = str(COUNT)
    from pypylon import pylon

    tl = pylon.TlFactory.GetInstance()
    devs = [d for d in tl.EnumerateDevices() if d.GetDeviceClass() == "BaslerCamEmu"][:COUNT]
    arr = pylon.InstantCameraArray(COUNT)
    for cam, d in zip(arr, devs):
        cam.Attach(tl.CreateDevice(d))
    arr.Open()
    for i, cam in enumerate(arr):
        cam.SetCameraContext(i)
        cam.Width.Value, cam.Height.Value, cam.PixelFormat.Value = WIDTH, HEIGHT, "Mono8"
        cam.AcquisitionFrameRateEnable.Value = True
        cam.AcquisitionFrameRateAbs.Value = float(FPS)
        cam.TestImageSelector.Value, cam.ImageFileMode.Value = "Off", "On"
        cam.ImageFilename.Value = image_dirs[i]
    counts = [0] * COUNT
    arr.StartGrabbing(pylon.GrabStrategy_OneByOne)
    cpu0, t0 = _cpu_s(resource.RUSAGE_SELF), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        res = arr.RetrieveResult(1000, pylon.TimeoutHandling_Return)
        if res is not None and res.IsValid():
            if res.GrabSucceeded():
                counts[res.GetCameraContext()] += 1
            res.Release()
    dt = time.perf_counter() - t0
    cpu = _cpu_s(resource.RUSAGE_SELF) - cpu0
    arr.StopGrabbing()
    arr.Close()
    out.put({"fps": [round(c / dt, 2) for c in counts], "cpu_cores": round(cpu / dt, 3)})


def _backend_alone(seconds: float, out) -> None:
    """In a fresh process: mestudio's Basler backend (copies, BlockID checks), nothing recorded."""
    from mestudio.capture.registry import create_device
    from mestudio.config.loader import bundled_config, load_session_config

    spec = load_session_config(bundled_config("emulated-basler.toml")).devices[0]
    dev = create_device(spec)
    counts: dict[str, int] = {}
    with dev:
        cpu0, t0 = _cpu_s(resource.RUSAGE_SELF), time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for f in dev.read(1.0):
                counts[f.stream_id] = counts.get(f.stream_id, 0) + 1
        dt = time.perf_counter() - t0
        cpu = _cpu_s(resource.RUSAGE_SELF) - cpu0
        dropped = dev.dropped
    out.put(
        {
            "fps": [round(counts.get(f"{spec.name}-{i}", 0) / dt, 2) for i in range(COUNT)],
            "cpu_cores": round(cpu / dt, 3),
            "dropped": dropped,
        }
    )


def _producer_split(seconds: float, endpoint: str, keep_buffers: bool, out) -> None:
    """In a fresh process: the Basler node's loop (read, pack, send to a PULL in the bench process),
    with the main thread's CPU per frame in each step and the page faults per frame."""
    import zmq

    from mestudio.capture.node import single_threaded_opencv
    from mestudio.capture.registry import create_device
    from mestudio.config.loader import bundled_config, load_session_config
    from mestudio.stream import wire
    from mestudio.stream.buffers import keep_freed_buffers
    from mestudio.stream.bus import Endpoints, Publisher

    if keep_buffers:
        keep_freed_buffers()  # as capture/node.py does
    spec = load_session_config(bundled_config("emulated-basler.toml")).devices[0]
    dev = create_device(spec)
    single_threaded_opencv()
    ctx = zmq.Context()
    pub = Publisher(ctx, Endpoints(endpoint, "", "", "", {"basler": endpoint + "-pub"}), "basler")
    spent = {"read": 0.0, "pack": 0.0, "send": 0.0}
    frames = 0
    with dev:
        for f in dev.read(1.0):  # the first frames (allocations, connection) are not counted
            pub.send(wire.frame_parts(f.stream_id, f.seq, f.data, host_time_ns=f.host_time_ns))
        flt0, cpu0, t0 = (
            resource.getrusage(resource.RUSAGE_SELF).ru_minflt,
            _cpu_s(resource.RUSAGE_SELF),
            time.perf_counter(),
        )
        while time.perf_counter() - t0 < seconds:
            a = time.thread_time()
            got = dev.read(1.0)
            b = time.thread_time()
            spent["read"] += b - a
            for f in got:
                parts = wire.frame_parts(
                    f.stream_id, f.seq, f.data, host_time_ns=f.host_time_ns, device_time_ns=f.device_time_ns
                )
                c = time.thread_time()
                pub.send(parts)
                d = time.thread_time()
                spent["pack"] += c - b
                spent["send"] += d - c
                b = d
            frames += len(got)
        dt = time.perf_counter() - t0
        cpu = _cpu_s(resource.RUSAGE_SELF) - cpu0
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - flt0
    pub.close()
    ctx.destroy(linger=0)
    n = max(1, frames)
    out.put(
        {
            "fps_per_camera": round(frames / COUNT / dt, 2),
            "main_thread_ms_per_frame": {k: round(1000 * v / n, 3) for k, v in spent.items()},
            # pylon's grab threads, zmq's I/O thread and pyzmq's release thread included
            "process_ms_per_frame": round(1000 * cpu / n, 3),
            "process_cores": round(cpu / dt, 3),
            "page_faults_per_frame": round(faults / n, 1),
        }
    )


def producer_cpu_split(seconds: float) -> dict:
    """Where a camera node's CPU goes per frame, with glibc's default allocator and with freed
    frame buffers kept for reuse (capture/node.py); frames are drained by this process."""
    import threading

    import zmq

    res: dict = {}
    for name, keep in (("default_malloc", False), ("freed_buffers_kept", True)):
        ctx = zmq.Context()
        pull = ctx.socket(zmq.PULL)
        pull.linger = 0
        ep = f"ipc:///tmp/mestudio-bench-producer-{os.getpid()}"
        pull.bind(ep)
        stop = threading.Event()

        def drain(sock=pull, stop=stop) -> None:
            while not stop.is_set():
                if sock.poll(100):
                    sock.recv_multipart(copy=False)

        t = threading.Thread(target=drain, daemon=True)
        t.start()
        try:
            res[name] = _in_process(_producer_split, seconds, ep, keep)
        finally:
            stop.set()
            t.join(5)
            ctx.destroy(linger=0)
    return res


def _in_process(target, seconds: float, *args) -> dict:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(seconds, *args, q), daemon=True)
    p.start()
    try:
        return q.get(timeout=seconds + 60)
    finally:
        p.join(10)


def emulator_alone(seconds: float) -> dict:
    from mestudio.capture.basler_images import face_view_folders

    dirs = [str(p) for p in face_view_folders(COUNT, WIDTH, HEIGHT)]
    return _in_process(_emulator_alone, seconds, dirs)


class _NodeCpu:
    """CPU of each node process while the session runs (sampled once a second by the supervisor)."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[float, float]] = {}
        self.last: dict[str, tuple[float, float]] = {}

    def sample(self, sup) -> None:
        import psutil

        for name, child in sup.children.items():
            if child.proc is None or child.proc.poll() is not None:
                continue
            try:
                t = psutil.Process(child.proc.pid).cpu_times()
            except psutil.Error:
                continue
            point = (time.perf_counter(), t.user + t.system)
            self.first.setdefault(name, point)
            self.last[name] = point

    def cores(self) -> dict[str, float]:
        out = {}
        for name, (t1, c1) in self.last.items():
            t0, c0 = self.first[name]
            if t1 > t0:
                out[name] = round((c1 - c0) / (t1 - t0), 3)
        return out


def _with_shared_memory(path: Path, on: bool, folder: Path) -> Path:
    """A copy of a config file with ``[transport] shared_memory`` set (the rest unchanged)."""
    line = f"shared_memory = {'true' if on else 'false'}\n"
    text = re.sub(r"(?m)^shared_memory\s*=.*\n", "", path.read_text())
    if "[transport]\n" in text:
        text = text.replace("[transport]\n", "[transport]\n" + line, 1)
    else:
        text += "\n[transport]\n" + line
    out = folder / path.name
    out.write_text(text)
    return out


def recorded_session(config_name: str, seconds: float, shared_memory: bool | None = None) -> dict:
    """Run a bundled config through the supervisor and recorder; figures read back from the session.
    ``shared_memory`` overrides the config's ``[transport] shared_memory`` (None: as bundled)."""
    from mestudio.config.loader import bundled_config, load_session_config
    from mestudio.session_run import run_session
    from mestudio.stream.session_reader import SessionReader
    from mestudio.stream.verify import verify

    base = tempfile.mkdtemp(prefix="mestudio-bench-capture-")
    path = bundled_config(config_name)
    if shared_memory is not None:
        path = _with_shared_memory(path, shared_memory, Path(base))
    cfg = load_session_config(path)
    per_node = _NodeCpu()
    sched = SchedSampler()

    def progress(sup) -> None:
        per_node.sample(sup)
        pids = {
            name: c.proc.pid
            for name, c in sup.children.items()
            if name in ("recorder", "basler") and c.proc is not None and c.proc.poll() is None
        }
        sched.sample(pids, time.perf_counter())

    try:
        cpu0, t0 = _cpu_s(resource.RUSAGE_CHILDREN) + _cpu_s(resource.RUSAGE_SELF), time.perf_counter()
        started_ns = time.monotonic_ns()
        result = run_session(
            cfg, path.read_text(), out=Path(base) / "out", duration_s=seconds, on_progress=progress, config_path=path
        )
        wall = time.perf_counter() - t0
        cpu = _cpu_s(resource.RUSAGE_CHILDREN) + _cpu_s(resource.RUSAGE_SELF) - cpu0
        rep = verify(result.path)
        streams = {
            s.stream_id: {
                "fps": s.fps,
                "frames": s.frames,
                "gaps": s.gaps,
                "device_dropped": s.device_dropped,
                "unrecorded": s.unrecorded,
            }
            for s in rep.streams
        }
        rec = SessionReader(result.path).recorder_report()
        mb = sum(s.bytes for s in rep.streams) / 1e6
        return {
            "streams": streams,
            # seconds behind the cameras at worst, and the recorder's CPU per MB it wrote
            "recorder_backlog_max_s": rec.get("backlog_max_s"),
            "shared_memory": cfg.transport.shared_memory,
            "recorder_shared_memory_frames": rec.get("shared_memory_frames", 0),
            # when it was behind (every frame's backlog from the index) and who had the CPU then
            "recorder_backlog_profile": backlog_profile(result.path, started_ns),
            "recorder_scheduling": sched.summary(),
            "recorder_cpu_ms_per_MB": round(1000 * per_node.cores().get("recorder", 0.0) * seconds / mb, 3)
            if mb
            else None,
            "cpu_cores": round(cpu / wall, 3),
            "cpu_cores_per_node": per_node.cores(),
            "wall_s": round(wall, 2),
            "problems": list(result.problems),
            "verify_ok": rep.ok,
            "recorded_MB_per_s": round(sum(s.bytes for s in rep.streams) / 1e6 / max(1e-9, seconds), 1),
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _rig_fps_ratio(rec: dict, base_fps: float) -> float | None:
    fps = sum(rec["streams"].get(f"basler-{i}", {"fps": 0.0})["fps"] for i in range(COUNT)) / COUNT
    return round(fps / base_fps, 3) if base_fps else None


def _run_brief(rec: dict) -> dict:
    """One recorded run's figures that explain its backlog (the per-second profile included)."""
    prof = rec["recorder_backlog_profile"]
    return {
        "load_average_1min_after": rec.get("load_average_1min_after"),
        "recorder_backlog_max_s": rec["recorder_backlog_max_s"],
        "backlog_p50_s": prof.get("p50_s"),
        "backlog_p95_s": prof.get("p95_s"),
        "backlog_max_at_s": prof.get("max_at_s"),
        "first_frame_at_s": prof.get("first_frame_at_s"),
        "backlog_by_second": [row["backlog_max_s"] for row in prof.get("by_second", [])],
        "recorder_scheduling": rec["recorder_scheduling"],
        "cpu_cores_per_node": rec["cpu_cores_per_node"],
        "shared_memory_frames": rec["recorder_shared_memory_frames"],
    }


def full_rig_transports(seconds: float, rounds: int, base_fps: float) -> dict:
    """The six cameras recorded over the socket and through the shared-memory ring, in rounds
    whose order alternates; per transport the median fps ratio and backlog over its runs."""
    runs: dict[str, list[dict]] = {"socket": [], "shared_memory": []}
    for r in range(rounds):
        order = ["socket", "shared_memory"] if r % 2 == 0 else ["shared_memory", "socket"]
        for name in order:
            rec = recorded_session("emulated-basler.toml", seconds, shared_memory=name == "shared_memory")
            rec["load_average_1min_after"] = round(os.getloadavg()[0], 2)
            rec["ratio_recorded_to_alone_fps"] = _rig_fps_ratio(rec, base_fps)
            runs[name].append(rec)
    out = {}
    for name, rs in runs.items():
        out[name] = {
            "ratio_recorded_to_alone_fps": statistics.median(r["ratio_recorded_to_alone_fps"] or 0.0 for r in rs),
            "recorder_backlog_max_s": statistics.median(r["recorder_backlog_max_s"] or 0.0 for r in rs),
            "recorder_backlog_max_s_per_run": [r["recorder_backlog_max_s"] for r in rs],
            "recorder_backlog_p95_s_per_run": [r["recorder_backlog_profile"].get("p95_s") for r in rs],
            "recorder_cpu_ms_per_MB_per_run": [r["recorder_cpu_ms_per_MB"] for r in rs],
            "runs": rs,
        }
    return out


def face_render_rates(frames: int) -> dict:
    """Frames per second one core renders, per device of config/demo.toml, and the demo's load."""
    from mestudio.capture.face.render import FaceView, source_gray, source_rgb
    from mestudio.capture.face.script import default_script

    script = default_script(60, 0)
    out = {}
    cases = {
        "face 640x480 mono8": (640, 480, False, False),
        "kinect 640x480 rgb8+depth16": (640, 480, True, True),
        "rig view 800x600 mono8": (800, 600, False, False),
        "basler view 1600x1200 mono8": (1600, 1200, False, False),
    }
    for name, (w, h, rgb, depth) in cases.items():
        view = FaceView(w, h)
        src = source_rgb() if rgb else source_gray()
        view.warm(src, depth)
        t = time.perf_counter()
        for k in range(frames):
            smap = view.sampling_map(script, k / 60)
            view.render(script, k / 60, k, src, smap)
            if depth:
                view.render_depth(smap, k)
        out[name] = round(frames / (time.perf_counter() - t), 1)
    # demo.toml: face 60 fps, kinect 30 fps, three rig views at 30 fps
    load = 60 / out["face 640x480 mono8"] + 30 / out["kinect 640x480 rgb8+depth16"] + 90 / out["rig view 800x600 mono8"]
    return {"renders_per_s_one_core": out, "demo_rig_cores_needed": round(load, 3)}


def run(args) -> dict:
    quick = getattr(args, "quick", False)
    seconds = 3.0 if quick else 8.0
    alone = emulator_alone(seconds)
    backend = _in_process(_backend_alone, seconds)
    base_fps = sum(alone["fps"]) / COUNT
    transports = full_rig_transports(seconds, 1 if quick else 2, base_fps)
    # the headline is the rig as bundled ([transport] shared_memory as the file says); the run
    # shown in full is its worst (its backlog is the headline's)
    from mestudio.config.loader import bundled_config, load_session_config

    bundled = load_session_config(bundled_config("emulated-basler.toml")).transport.shared_memory
    headline = transports["shared_memory" if bundled else "socket"]
    rec = max(headline["runs"], key=lambda r: r["recorder_backlog_max_s"] or 0.0)
    demo = recorded_session("demo.toml", seconds)
    return {
        "setup": f"{COUNT} emulated Basler cameras {WIDTH}x{HEIGHT} Mono8 at {FPS} fps showing face views, "
        f"{seconds:g} s each",
        "emulator_alone": {
            "fps_per_camera": alone["fps"],
            "mean_fps": round(base_fps, 2),
            "cpu_cores": alone["cpu_cores"],
        },
        "backend_alone": {
            "fps_per_camera": backend["fps"],
            "mean_fps": round(sum(backend["fps"]) / COUNT, 2),
            "cpu_cores": backend["cpu_cores"],
            "dropped": backend["dropped"],
        },
        "recording": rec,
        # the same rig over the socket and through the shared-memory ring, interleaved: the
        # socket is the before of the ring, measured minutes apart on the same machine
        "transports": {
            name: {k: v for k, v in t.items() if k != "runs"} | {"runs": [_run_brief(r) for r in t["runs"]]}
            for name, t in transports.items()
        },
        # the rig as bundled: the median fps ratio and the worst backlog of its runs
        "ratio_recorded_to_alone_fps": headline["ratio_recorded_to_alone_fps"],
        "recorder_backlog_max_s": rec["recorder_backlog_max_s"],
        "recorder_backlog_max_at_s": rec["recorder_backlog_profile"].get("max_at_s"),
        "recorder_backlog_p50_p95_s": [rec["recorder_backlog_profile"].get(k) for k in ("p50_s", "p95_s")],
        "producer_cpu_split": producer_cpu_split(2.0 if quick else 5.0),
        "face_rig": face_render_rates(60 if quick else 240),
        "demo_face_rig_recording": demo,
    }
