"""`mestudio sync SESSION [--json] [--av-check]`: the offline sync report and frame sets of a session."""

from __future__ import annotations

import json

from mestudio.commands import fail
from mestudio.stream.errors import StreamError
from mestudio.sync.errors import SyncError
from mestudio.sync.offline import build_report

NAME = "sync"
HELP = "the offline sync report and frame sets of a recorded session"


def add_arguments(p) -> None:
    p.add_argument("session", help="a recorded session folder")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument(
        "--av-check", action="store_true", help="also find a slate (flash + click) and report the audio-video offset"
    )


def run(args) -> int:
    try:
        rep = build_report(args.session)
        if args.av_check:
            from mestudio.sync.avcheck import av_check

            rep["av_check"] = av_check(args.session)
    except (SyncError, StreamError, OSError) as e:
        return fail(NAME, str(e))
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    print(f"sync report: {args.session}/sync/report.json ({rep['seconds']} s)")
    for sid, h in rep["streams"].items():
        print(
            f"  {sid:24s} frames {h['frames']:7d}  drift {h['drift_ppm']:+9.3f} ppm  jitter {h['jitter_ms']:.3f} ms"
            f"  dropped {h['dropped_frames']}  breaks {h['breaks']}"
        )
    ch = rep["chirps"]
    print(f"  chirps: {len(ch['detected'])} detected, {ch['matched']}/{ch['requested']} requests found")
    fs = rep["framesets"]
    print(f"  frame sets: {fs['sets']} on {fs['reference']}, {fs['complete']} complete; missing {fs['missing']}")
    if "av_check" in rep:
        av = rep["av_check"]
        print(
            f"  AV check: click - flash = {av['av_offset_ms']:+.3f} ms ({av['audio']} vs {av['video']}, "
            f"flash known to {av['flash_uncertainty_ms']:.1f} ms)"
        )
    return 0
