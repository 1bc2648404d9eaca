"""`mestudio evaluate-spotting`: the analyzer over a dataset's long videos, MEGC-scored."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mestudio.commands import fail

NAME = "evaluate-spotting"
HELP = "run the analyzer over CAS(ME)^2 / SAMM / CAS(ME)^3 long videos and score it with the MEGC protocol"


def add_arguments(p) -> None:
    p.add_argument("--dataset", required=True, choices=("casme2", "samm", "cas3"), help="whose long videos")
    p.add_argument("--videos", required=True, type=Path, metavar="DIR", help="folder holding the videos")
    p.add_argument(
        "--labels", required=True, type=Path, metavar="FILE", help="spotting ground truth (LGSNet-layout CSV)"
    )
    p.add_argument("--method", choices=("mdmd", "lbp"), help="flow spotting method (default mdmd)")
    p.add_argument(
        "--fusion", choices=("off", "au"), help="spotting fusion (default off: the flow alone; docs/analyzer.md)"
    )
    p.add_argument("--fps", type=float, help="frame rate (default: the dataset's: 30, SAMM 200)")
    p.add_argument("--limit", type=int, help="analyse the first N labelled videos found only")
    p.add_argument("--json", action="store_true", help="print the results (per video too) as JSON")
    p.add_argument("--verbose", action="store_true", help="keep the face model's start-up lines on stderr")


def run(args) -> int:
    from mestudio.analysis.analyzer.errors import AnalyzerError
    from mestudio.analysis.analyzer.quiet import quiet_native_logs
    from mestudio.analysis.evaluation.long_videos import evaluate_long_videos, megc_table
    from mestudio.analysis.settings import AnalyzerSettings

    if args.fps is not None and args.fps <= 0:
        return fail(NAME, f"--fps {args.fps:g}: must be above 0", 2)
    if args.limit is not None and args.limit < 1:
        return fail(NAME, f"--limit {args.limit}: must be 1 or more", 2)
    chosen = {"method": args.method, "fusion": args.fusion}
    settings = AnalyzerSettings(**{k: v for k, v in chosen.items() if v})
    progress = None if (args.json or not sys.stderr.isatty()) else _progress
    try:
        with quiet_native_logs(not args.verbose):
            r = evaluate_long_videos(args.dataset, args.videos, args.labels, settings, args.fps, args.limit, progress)
    except AnalyzerError as e:
        return fail(NAME, str(e), 2)
    except ImportError as e:
        return fail(NAME, f"{e} (install the analysis extras: pip install 'mestudio[analysis]')", 2)
    if progress:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(
            f"evaluate-spotting {r['dataset_name']}: {r['videos_analysed']} of {r['videos_labelled']} labelled videos "
            f"analysed ({r['videos_missing']} not found, {r['videos_failed']} not readable), {r['fps']:g} fps, "
            f"{r['method']} + AU-track spotting"
        )
        for f in r["failed"]:
            print(f"  not readable, not scored: {f['error']}")
        print(megc_table(r))
    return 0


def _progress(i: int, n: int, name: str) -> None:
    print(f"\revaluate-spotting: video {i + 1}/{n} {name[-40:]}", end="", file=sys.stderr, flush=True)
