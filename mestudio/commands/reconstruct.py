"""`mestudio reconstruct SESSION [--frames A:B] [--workers N] [--calibration FILE] [--json]`."""

from __future__ import annotations

import json
import os
import sys

from mestudio.commands import fail
from mestudio.reconstruct.errors import GeometryError
from mestudio.stream.errors import StreamError

NAME = "reconstruct"
HELP = "a face mesh per frame set: stereo from the array's pairs and TSDF from the Kinect (reconstruction/)"


def add_arguments(p) -> None:
    p.add_argument("session", help="a recorded session with frame sets (sync)")
    p.add_argument("--frames", metavar="A:B", help="only frame sets A (inclusive) to B (exclusive)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="local processes (default 1)")
    p.add_argument(
        "--calibration",
        metavar="FILE",
        help="rig.json from `mestudio calibrate` (or a calibrated session); default SESSION/calibration/rig.json",
    )
    p.add_argument("--method", choices=("stereo", "rgbd", "both"), default="both", help="which reconstruction(s)")
    p.add_argument("--ray", metavar="ADDRESS", help="run the frames on an existing Ray cluster (needs ray installed)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    from mestudio.reconstruct.run import METHODS, reconstruct_session

    if args.workers < 1 or args.workers > (os.cpu_count() or 1) * 4:
        return fail(NAME, f"--workers must be between 1 and {(os.cpu_count() or 1) * 4}, got {args.workers}", 2)
    methods = METHODS if args.method == "both" else (args.method,)

    shown = []

    def progress(k: int, n: int) -> None:
        if not args.json:
            shown.append(k)
            bar = "#" * int(30 * k / n)
            print(f"\r[{bar:30s}] {k}/{n} frame sets", end="", file=sys.stderr, flush=True)

    try:
        rep = reconstruct_session(
            args.session, args.frames, args.workers, args.calibration, methods, progress, args.ray
        )
    except (GeometryError, StreamError, OSError) as e:
        if shown:
            print(file=sys.stderr)  # end the progress line
        return fail(NAME, str(e))
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    if shown:
        print(file=sys.stderr)
    for method, m in rep["methods"].items():
        line = f"{method}: {m['frames']} meshes in {m['folder']} ({m['vertices_mean']} vertices on average"
        line += f", {m['frames_per_s']} frame sets/s)" if m["frames_per_s"] else ", none computed in this run)"
        print(line)
        if "chamfer_mean_mm" in m:
            print(
                f"  vs truth: Chamfer mean {m['chamfer_mean_mm']:.3f} mm, p95 {m['chamfer_p95_mm']:.3f} mm, "
                f"completeness (2 mm) {m['completeness_2mm']:.3f}"
            )
    return 0
