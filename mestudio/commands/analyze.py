"""`mestudio analyze SESSION`: the streaming analyzer over a recording, as fast as it can."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mestudio.commands import fail

NAME = "analyze"
HELP = "run the streaming analyzer over a recorded session as fast as it can (same events as the live run)"


def add_arguments(p) -> None:
    p.add_argument("session", type=Path, help="session folder")
    p.add_argument("--json", action="store_true", help="print the report (events included) as JSON")
    p.add_argument(
        "--from-start",
        action="store_true",
        help="analyse from the first recorded frame (default: from the frame the live analyzer "
        "started at, when the session has live results, so the two runs compare)",
    )
    p.add_argument("--method", choices=("mdmd", "lbp"), help="spotting method (default: the session's [analyzer])")
    p.add_argument("--stream", help='stream to analyse (default: the session\'s [analyzer] stream, or "face")')
    p.add_argument("--quiet", action="store_true", help="no progress line")


def run(args) -> int:
    # heavy imports here: `mestudio --help` imports every command module
    from mestudio.analysis.analyzer.errors import AnalyzerError
    from mestudio.analysis.analyzer.offline import analyze_session, compare_live, session_settings
    from mestudio.analysis.evaluation.compare import compare_events, recorded_results
    from mestudio.analysis.evaluation.groundtruth import SCRIPT_PATH
    from mestudio.config.errors import ConfigError
    from mestudio.stream.errors import SessionError
    from mestudio.stream.session import SessionReader

    try:
        reader = SessionReader(args.session)
        settings = session_settings(reader)
        changes = {k: v for k, v in (("method", args.method), ("stream", args.stream)) if v}
        if changes:
            settings = settings.model_copy(update=changes)
        live = recorded_results(args.session)
        start = next((b.get("first_seq") for b in live if b.get("type") == "start"), None)
        progress = None if (args.quiet or args.json or not sys.stderr.isatty()) else _progress
        report = analyze_session(
            args.session, settings, progress=progress, start_seq=None if args.from_start else start
        )
    except (SessionError, AnalyzerError, ConfigError) as e:
        return fail(NAME, str(e), 2)
    except ImportError as e:
        return fail(NAME, f"{e} (install the analysis extras: pip install 'mestudio[analysis]')", 2)
    if progress:
        print(file=sys.stderr)
    report.pop("messages")
    if live and not args.from_start and not changes:
        report["live"] = compare_live(report["events"], live)
    if (Path(args.session) / SCRIPT_PATH).is_file():
        report["script"] = compare_events(report["events"], (report["first_t"], report["last_t"]), args.session)
    print(json.dumps(report, indent=2) if args.json else _text(report))
    return 0


def _progress(i: int, n: int) -> None:
    print(f"\ranalyze: frame {i}/{n}", end="", file=sys.stderr, flush=True)


def _text(r: dict) -> str:
    lines = [
        f"analyze {r['session']}: stream {r['stream']!r}, {r['frames']} frames at {r['fps']:g} fps, "
        f"face in {r['frames_with_face']}, {r['method']} spotting",
        f"  {r['wall_s']:.1f} s of analysis: {r['speed_x_realtime']}x real time; "
        f"latency {r['latency_s']:.2f} s; recording gaps {r['recording_gaps']}",
    ]
    lines += [f"  note: {n}" for n in r["notes"]]
    for e in r["events"]:
        aus = "+".join(f"AU{a}" for a in e["aus"]) or "-"
        lines.append(
            f"  {e['kind']:5s} {e['onset_s'] - r['first_t']:8.2f}-{e['offset_s'] - r['first_t']:7.2f} s "
            f"(frames {e['onset_seq']}-{e['offset_seq']})  {aus:18s} {e['emotion']}"
        )
    if not r["events"]:
        lines.append("  no movement spotted")
    if "live" in r:
        c = r["live"]
        same = "identical to" if c["identical"] else "different from"
        lines.append(
            f"  offline events {same} the live run's ({c['offline_events']} vs {c['live_events']}; "
            f"live gaps {c['live_gaps']}, {c['live_frames_missed']} frames missed live)"
        )
    if "script" in r:
        lines.append("  " + r["script"]["summary"].replace("\n", "\n  "))
    return "\n".join(lines)
