"""`mestudio reconstruct SESSION [--frames A:B] [--workers N] [--calibration FILE] [--json]`."""

from __future__ import annotations

import os

from mestudio.commands import add_session_arguments, fail, run_with_progress

NAME = "reconstruct"
HELP = "a face mesh per frame set: stereo from the array's pairs and TSDF from the Kinect (reconstruction/)"


def add_arguments(p) -> None:
    add_session_arguments(p, "a recorded session with frame sets (sync)")
    p.add_argument("--frames", metavar="A:B", help="only frame sets A (inclusive) to B (exclusive)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="local processes (default 1)")
    p.add_argument(
        "--calibration",
        metavar="FILE",
        help="rig.json from `mestudio calibrate` (or a calibrated session); default SESSION/calibration/rig.json",
    )
    p.add_argument("--method", choices=("stereo", "rgbd", "both"), default="both", help="which reconstruction(s)")
    p.add_argument(
        "--match-scale",
        type=int,
        choices=(1, 2),
        default=1,
        help="stereo matching at full (1, default) or half (2) resolution: about 1.7x faster, "
        "Chamfer error about 2x (docs/4d.md)",
    )
    p.add_argument("--ray", metavar="ADDRESS", help="run the frames on an existing Ray cluster (needs ray installed)")


def run(args) -> int:
    from mestudio.reconstruct.run import METHODS, reconstruct_session

    if args.workers < 1 or args.workers > (os.cpu_count() or 1) * 4:
        return fail(NAME, f"--workers must be between 1 and {(os.cpu_count() or 1) * 4}, got {args.workers}", 2)
    methods = METHODS if args.method == "both" else (args.method,)
    return run_with_progress(
        NAME,
        args,
        lambda progress: reconstruct_session(
            args.session,
            args.frames,
            args.workers,
            args.calibration,
            methods,
            progress,
            args.ray,
            match_scale=args.match_scale,
        ),
        _show,
        "frame sets",
        bar=True,
    )


def _show(rep: dict) -> None:
    for method, m in rep["methods"].items():
        line = f"{method}: {m['frames']} meshes in {m['folder']} ({m['vertices_mean']} vertices on average"
        line += f", {m['frames_per_s']} frame sets/s)" if m["frames_per_s"] else ", none computed in this run)"
        print(line)
        if "chamfer_mean_mm" in m:
            print(
                f"  vs truth: Chamfer mean {m['chamfer_mean_mm']:.3f} mm, p95 {m['chamfer_p95_mm']:.3f} mm, "
                f"completeness (2 mm) {m['completeness_2mm']:.3f}"
            )
