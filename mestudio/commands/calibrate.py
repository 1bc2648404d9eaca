"""`mestudio calibrate SESSION [--reference CAM] [--json]`: calibrate the rig from a ChArUco recording."""

from __future__ import annotations

from mestudio.commands import add_session_arguments, fail, run_with_progress

NAME = "calibrate"
HELP = "calibrate every camera of the rig from a recording of a ChArUco board (writes calibration/rig.json)"


def add_arguments(p) -> None:
    add_session_arguments(p, "a recorded session showing the board (e.g. from config/4d-calibration.toml)")
    p.add_argument("--reference", metavar="CAM", help="the camera whose frame is the rig's (default: most views)")
    p.add_argument("--views", type=int, default=24, metavar="N", help="distinct board poses to use (default 24)")


def run(args) -> int:
    from mestudio.reconstruct.calibrate import calibrate_session

    if args.views < 4:
        return fail(NAME, f"--views must be at least 4, got {args.views}", 2)
    return run_with_progress(
        NAME,
        args,
        lambda progress: calibrate_session(args.session, args.reference, args.views, progress),
        _show,
        "board poses found",
    )


def _show(rep: dict) -> None:
    print(f"calibration: {rep['files'][0]} ({rep['views']} board poses, {rep['corners']} corners)")
    print(f"  reprojection RMS {rep['reprojection_rms_px']:.3f} px; frame of {rep['reference']}")
    for cam, c in rep["cameras"].items():
        if "reprojection_rms_px" in c:
            print(f"  {cam:16s} RMS {c['reprojection_rms_px']:.3f} px  views {c['views']}")
        else:
            print(f"  {cam:16s} registered to {c['registered_to']}")
    if "vs_truth" in rep and rep["vs_truth"].get("rotation_deg_max") is not None:
        v = rep["vs_truth"]
        print(
            f"  vs truth: rotation <= {v['rotation_deg_max']:.4f} deg, translation <= {v['translation_mm_max']:.3f} mm,"
            f" focal <= {v['focal_pct_max']:.4f} %"
        )
