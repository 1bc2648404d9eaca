"""`python -m sync SESSION [--json]`: the offline sync report and frame sets of a recorded session."""
from __future__ import annotations

import argparse
import json
import sys

from stream.errors import StreamError
from sync.errors import SyncError
from sync.offline import build_report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sync", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("session", help="a recorded session folder")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--av-check", action="store_true",
                   help="also find a slate (flash + click) and report the audio-video offset")
    args = p.parse_args(argv)
    try:
        rep = build_report(args.session)
        if args.av_check:
            from sync.avcheck import av_check
            rep["av_check"] = av_check(args.session)
    except (SyncError, StreamError, OSError) as e:
        print(f"python -m sync: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    print(f"sync report: {args.session}/sync/report.json ({rep['seconds']} s)")
    for sid, h in rep["streams"].items():
        print(f"  {sid:24s} frames {h['frames']:7d}  drift {h['drift_ppm']:+9.3f} ppm  jitter {h['jitter_ms']:.3f} ms"
              f"  dropped {h['dropped_frames']}  breaks {h['breaks']}")
    ch = rep["chirps"]
    print(f"  chirps: {len(ch['detected'])} detected, {ch['matched']}/{ch['requested']} requests found")
    fs = rep["framesets"]
    print(f"  frame sets: {fs['sets']} on {fs['reference']}, {fs['complete']} complete; missing {fs['missing']}")
    if "av_check" in rep:
        av = rep["av_check"]
        print(f"  AV check: click - flash = {av['av_offset_ms']:+.3f} ms ({av['audio']} vs {av['video']}, "
              f"flash known to {av['flash_uncertainty_ms']:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
